/** A fresh MariaDB/MySQL database per scenario, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import knex, { type Knex } from 'knex';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

/** mysql2's connection options for a mysql:// URL, in `database` if given. */
export function mysqlConnection(url: string, database?: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    ...(database ? { database } : {}),
    supportBigNumbers: true,
  };
}

export function serverKnex(url: string, database?: string): Knex {
  return knex({ client: 'mysql2', connection: mysqlConnection(url, database), pool: { min: 0, max: 8 } });
}

export async function createDatabase(url: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `webhooks_bench_${randomBytes(5).toString('hex')}`;
  const admin = serverKnex(url);
  await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.destroy();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      const db = serverKnex(url);
      await db.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await db.destroy();
    },
  };
}

/**
 * InnoDB's count of redo log fsyncs since the server started, and of all its fsyncs. MySQL and
 * MariaDB before 10.8 count the log's as Innodb_os_log_fsyncs. MariaDB 10.8+ dropped that counter
 * and counts them in Innodb_data_fsyncs, with the data files' fsyncs; there, each redo log write
 * (Innodb_log_writes) is one flush of the log. Checked here with strace on MariaDB 10.11 during a
 * unary saturation run: in one 4 s window, 258 fdatasync calls on ib_logfile0 and 44 on data
 * files, against 260 Innodb_log_writes, 264 commits and 306 Innodb_data_fsyncs.
 */
export async function logFsyncs(db: Knex): Promise<{ name: string; value: number; allFsyncs: number }> {
  const [rows] = (await db.raw(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_os_log_fsyncs', 'Innodb_log_writes', 'Innodb_data_fsyncs')",
  )) as [Array<{ Variable_name: string; Value: string }>];
  const row = rows.find((r) => r.Variable_name === 'Innodb_os_log_fsyncs') ?? rows.find((r) => r.Variable_name === 'Innodb_log_writes');
  const all = rows.find((r) => r.Variable_name === 'Innodb_data_fsyncs');
  return { name: row?.Variable_name ?? 'none', value: Number(row?.Value ?? NaN), allFsyncs: Number(all?.Value ?? NaN) };
}

/**
 * What the outbox holds, by state and last error: printed when a bench waits in vain for
 * deliveries, so the failure says whether they are retrying, paused or were never written.
 */
export async function outboxSummary(url: string): Promise<string> {
  const db = serverKnex(url, new URL(url).pathname.slice(1));
  try {
    const rows = (await db('deliveries')
      .select('status', 'attempt_count', 'last_error')
      .count({ n: '*' })
      .groupBy('status', 'attempt_count', 'last_error')) as Array<Record<string, unknown>>;
    // Where the unfinished ones wait: per destination path, whether a worker holds them, and
    // when they fall due (a retry after a timeout waits for the retry schedule).
    const now = Date.now();
    const waiting = (await db('deliveries as d')
      .join('webhooks as w', 'w.id', 'd.webhook_id')
      .whereNot('d.status', 'succeeded')
      .select('w.url', 'd.status', 'd.attempt_count', db.raw('d.claim_id IS NOT NULL AS claimed'))
      .min({ due: 'd.next_attempt_at' })
      .max({ last: 'd.next_attempt_at' })
      .count({ n: '*' })
      .groupBy('w.url', 'd.status', 'd.attempt_count', 'claimed')) as Array<Record<string, unknown>>;
    const inS = (ms: unknown) => (ms === null ? 'never' : `${((Number(ms) - now) / 1000).toFixed(1)} s`);
    const where = waiting.map(
      (r) => `${new URL(String(r.url)).pathname}: ${String(r.n)} ${String(r.status)} after ${String(r.attempt_count)}${Number(r.claimed) ? ', claimed' : ''}, due in ${inS(r.due)} to ${inS(r.last)}`,
    );
    return [
      rows.map((r) => `${String(r.n)} ${String(r.status)} after ${String(r.attempt_count)} attempts (${String(r.last_error ?? 'no error')})`).join('; '),
      ...(where.length > 0 ? [`unfinished by destination: ${where.join('; ')}`] : []),
    ].join('; ');
  } catch (err) {
    return `the outbox could not be read: ${(err as Error).message}`;
  } finally {
    await db.destroy();
  }
}
