import fs from 'node:fs';
import knex, { type Knex } from 'knex';
import type { Logger } from '../telemetry/logger';
import type { DbTarget } from '../config/db-url';

export type Db = Knex;

export interface DbOptions {
  /** Connections per process on MySQL. */
  readonly poolMax?: number;
  /** Where knex's own warnings go (it prints plain text on stdout otherwise). */
  readonly logger?: Logger;
}

/** A knex instance for the configured database, with the settings each dialect needs. */
export function connect(target: DbTarget, options: DbOptions = {}): Db {
  if (target.kind === 'mysql') {
    return knex({
      client: 'mysql2',
      connection: {
        host: target.host,
        port: target.port,
        user: target.user,
        password: target.password,
        database: target.database,
        charset: 'utf8mb4',
        // Times are stored as integer milliseconds since the epoch, so no time zone applies;
        // BIGINTs come back as numbers while they are safe integers.
        supportBigNumbers: true,
        bigNumberStrings: false,
        // Prepared statements kept per connection (src/db/transaction.ts): 10 connections
        // per replica hold at most 640 of the server's 16,382 by default.
        maxPreparedStatements: 64,
        // A transaction sends the statements whose results it does not read together with the
        // next one, COMMIT at the latest (src/db/transaction.ts): one round trip instead of
        // several. Every statement here is built with placeholders, never by splicing input.
        multipleStatements: true,
        // TLS (src/config/db-tls.ts): the certificate is always verified; a server that does
        // not offer TLS fails the handshake instead of being used in clear text.
        ...(target.tls && {
          ssl: {
            ca: target.tls.ca,
            cert: target.tls.cert,
            key: target.tls.key,
            rejectUnauthorized: true,
            verifyIdentity: target.tls.mode === 'verify-identity',
            minVersion: 'TLSv1.2',
          },
        }),
      },
      pool: { min: 0, max: options.poolMax ?? 10 },
      log: knexLog(options.logger),
    });
  }
  fs.mkdirSync(target.dataDir, { recursive: true });
  return knex({
    client: 'better-sqlite3',
    connection: { filename: target.file },
    useNullAsDefault: true,
    log: knexLog(options.logger),
    // One connection: SQLite has one writer at a time anyway, and a single connection in this
    // process never meets SQLITE_BUSY from itself.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
        try {
          // WAL lets readers run beside the writer; synchronous=FULL makes each commit durable
          // before ingest answers OK (NORMAL could lose the last commits on a power cut).
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = FULL');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
}

function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  if (!logger) return undefined;
  const say = (level: 'debug' | 'warn' | 'error') => (message: unknown) =>
    logger[level]({ component: 'knex' }, typeof message === 'string' ? message : 'knex message');
  return { debug: say('debug'), warn: say('warn'), error: say('error'), deprecate: say('warn') };
}

interface SqliteConnection {
  pragma(source: string): unknown;
}

export function isMysql(db: Db): boolean {
  return db.client.config.client === 'mysql2';
}

/** True when a write failed on a primary key or unique index. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === 'ER_DUP_ENTRY' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
