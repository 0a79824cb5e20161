/**
 * Which database failures say the database cannot serve right now (it is down, failing over,
 * overloaded or locked), as opposed to a bug in a query. src/grpc/status.ts answers these
 * UNAVAILABLE, which clients retry; an INTERNAL during a MySQL failover read as a bug to them.
 */

/** InnoDB gave up on a lock: the transaction was rolled back whole and may run again. */
const LOCK_CONFLICTS = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

const UNAVAILABLE_CODES = new Set([
  ...LOCK_CONFLICTS,
  // The link to the server: refused, reset, timed out, unresolvable (a failover's DNS change).
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // mysql2: the server closed the connection, or stopped answering on it.
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  // The server refused or ended the session: too many connections, shutting down, killed.
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  // A write reached a read-only server: a demoted primary during a failover (--read-only).
  'ER_OPTION_PREVENTS_STATEMENT',
]);

export function isLockConflict(err: unknown): boolean {
  return LOCK_CONFLICTS.has(codeOf(err) ?? '');
}

/**
 * True when `err`, or an error it was caused by, is one the caller may retry later: the causes
 * are followed because knex wraps the pool's errors.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = codeOf(e);
    if (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('SQLITE_BUSY'))) return true;
    // knex: no connection came from the pool in time (acquireConnectionTimeout), or the pool
    // is gone (the process is stopping).
    if (e.name === 'KnexTimeoutError' || e.message === 'Unable to acquire a connection') return true;
    // mysql2 marks an error that ended its connection fatal; without a code it is a command
    // given to a connection that had closed already.
    if (code === undefined && (e as { fatal?: unknown }).fatal === true) return true;
  }
  return false;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
