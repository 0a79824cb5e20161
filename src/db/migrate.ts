import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { EventBodies } from '../config/config';
import { isMysql, type Db } from './connect';

/**
 * Compiled migrations live in dist/db/migrations; this file is dist/src/db/migrate.js.
 */
const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'db', 'migrations');
/** Where knex finds the migrations; tests that step through them use it too. */
export const MIGRATOR_CONFIG: Knex.MigratorConfig = { directory: MIGRATIONS_DIR, loadExtensions: ['.js'] };
/** How long a start waits for another replica's migration before giving up. */
const LOCK_WAIT_SECONDS = 120;
const MYSQL_LOCK_NAME = 'webhooks_sidecar_migrations';
/** knex's record of applied migrations (its default name). */
const MIGRATIONS_TABLE = 'knex_migrations';

export interface MigrationOutcome {
  /** The migrations this call applied, oldest first. */
  readonly applied: string[];
  /**
   * Migrations a newer version of the sidecar applied, which this version does not have: it runs
   * on that newer schema (a rolling update's older pods, or the version after `helm rollback`).
   */
  readonly newer: string[];
}

/**
 * Applies pending migrations. Replicas that start at once take turns: knex's own lock row does
 * not wait (the loser throws "Migration table is already locked"), and it stays locked if a
 * process dies mid-migration. On MySQL a named lock (GET_LOCK) serialises the replicas instead;
 * the server drops it with the session of a process that dies, so a stale knex lock row can be
 * freed safely by whoever holds it.
 */
export async function migrateLatest(db: Db): Promise<MigrationOutcome> {
  if (isMysql(db)) return withMysqlLock(db, () => latest(db, true));
  return retryWhileLocked(() => latest(db, false));
}

async function latest(db: Db, freeStaleLock: boolean): Promise<MigrationOutcome> {
  if (freeStaleLock) await freeKnexLock(db);
  const newer = await newerMigrations(db);
  // knex refuses a database whose applied migrations it cannot find ("the migration directory is
  // corrupt"). Migrations are written so that the version before them runs on their schema, and
  // that is what a rollback or a rolling update does: only then is the check relaxed.
  const config = newer.length > 0 ? { ...MIGRATOR_CONFIG, disableMigrationsListValidation: true } : MIGRATOR_CONFIG;
  const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
  return { applied, newer };
}

/**
 * The applied migrations this version lacks, when they are a newer version's: each sorts after
 * this version's newest, and every migration of this version is applied too. Otherwise (an
 * unknown migration among this version's own, or one of them missing) none, and knex's check
 * refuses the database as before.
 */
async function newerMigrations(db: Db): Promise<string[]> {
  if (!(await db.schema.hasTable(MIGRATIONS_TABLE))) return [];
  const applied = new Set((await db(MIGRATIONS_TABLE).pluck('name')) as string[]);
  const ours = fs.readdirSync(MIGRATIONS_DIR).filter((f) => path.extname(f) === '.js').sort();
  const newest = ours[ours.length - 1] ?? '';
  const unknown = [...applied].filter((name) => !ours.includes(name)).sort();
  const fromNewerVersion = unknown.every((name) => name > newest) && ours.every((name) => applied.has(name));
  return fromNewerVersion ? unknown : [];
}

async function freeKnexLock(db: Db): Promise<void> {
  // Only an existing lock table can hold a stale lock; a new database has none yet.
  if (await db.schema.hasTable('knex_migrations_lock')) await db.migrate.forceFreeMigrationsLock(MIGRATOR_CONFIG);
}

async function withMysqlLock<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  // GET_LOCK belongs to a session: hold one connection for the whole migration.
  const conn: unknown = await db.client.acquireConnection();
  try {
    const [rows] = (await db.raw('SELECT GET_LOCK(?, ?) AS got', [MYSQL_LOCK_NAME, LOCK_WAIT_SECONDS]).connection(conn)) as [
      Array<{ got: number | null }>,
    ];
    if (rows[0]?.got !== 1) {
      throw new Error(`another replica held the migration lock for over ${LOCK_WAIT_SECONDS} s`);
    }
    try {
      return await fn();
    } finally {
      await db.raw('SELECT RELEASE_LOCK(?)', [MYSQL_LOCK_NAME]).connection(conn);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** SQLite is one process's store; this only covers `npm run migrate` racing a start. */
async function retryWhileLocked<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_SECONDS * 1000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if ((err as Error).name !== 'MigrationLocked' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** What the migration commands print when the database is ahead of them. */
export function newerNote(newer: readonly string[]): string {
  return `The database also has migrations of a newer version, which this one runs without: ${newer.join(', ')}`;
}

/** The migration that added event_payloads, and made events.payload nullable. */
const EVENT_PAYLOADS_MIGRATION = '20261204000000_event_payloads.js';

/**
 * Whether ingest stores bodies in event_payloads (WEBHOOKS_EVENT_BODIES), on a migrated database.
 * "auto" chooses it where that migration was in the database's first batch: no build without
 * event_payloads' reader ever ran on that database, and none can start on it (such builds refuse
 * migrations they do not know). A database migrated up to it later may still have pods of an
 * earlier build running, which would send those bodies empty: there "auto" keeps them in events.
 */
export async function storesBodiesApart(db: Db, setting: EventBodies): Promise<boolean> {
  if (setting !== 'auto') return setting === 'separate';
  const rows = (await db(MIGRATIONS_TABLE).select('name', 'batch')) as Array<{ name: string; batch: number }>;
  const first = Math.min(...rows.map((r) => Number(r.batch)));
  return rows.some((r) => r.name === EVENT_PAYLOADS_MIGRATION && Number(r.batch) === first);
}
