/** Walking the migrations back in tests of an upgrade over rows an earlier version wrote. */
import path from 'node:path';
import type { Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';

/** Undoes migrations, newest first, up to and including `name`; the names undone. */
export async function rollBackThrough(db: Db, name: string): Promise<string[]> {
  const undone: string[] = [];
  while (!undone.includes(name)) {
    const [, files] = (await db.migrate.down(MIGRATOR_CONFIG)) as [number, string[]];
    if (files.length === 0) throw new Error(`${name} was never applied`);
    undone.push(...files.map((f) => path.basename(f)));
  }
  return undone;
}

/** Applies the pending migrations; the names applied, oldest first. */
export async function migrateUp(db: Db): Promise<string[]> {
  const [, files] = (await db.migrate.latest(MIGRATOR_CONFIG)) as [number, string[]];
  return files.map((f) => path.basename(f));
}

/**
 * The schema as comparable rows: every column (type, nullability, default, collation) and every
 * index column of the sidecar's tables; knex's own tables are left out.
 */
export async function schemaOf(db: Db): Promise<string[]> {
  if (db.client.config.client === 'mysql2') {
    const queries = [
      `SELECT CONCAT_WS(' ', 'table', TABLE_NAME, TABLE_COLLATION) AS r FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`,
      `SELECT CONCAT_WS(' ', 'column', TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
          IFNULL(COLUMN_DEFAULT, '-'), IFNULL(COLLATION_NAME, '-'), EXTRA, COLUMN_KEY) AS r
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`,
      `SELECT CONCAT_WS(' ', 'index', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) AS r
        FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()`,
    ];
    const rows: string[] = [];
    for (const q of queries) rows.push(...((await db.raw(q)) as [Array<{ r: string }>])[0].map((x) => x.r));
    return rows.filter((r) => !/^\w+ knex_migrations/.test(r)).sort();
  }
  const rows = (await db.raw(
    "SELECT type || ' ' || name || ' ' || IFNULL(sql, '-') AS r FROM sqlite_master WHERE name NOT LIKE 'knex_migrations%'",
  )) as Array<{ r: string }>;
  return rows.map((x) => x.r).sort();
}
