/**
 * Schema steps that check whether they already happened, for the migrations.
 *
 * MySQL commits each DDL statement on its own, so a migration stopped partway (a killed pod, a
 * lost connection, a Helm hook timing out behind a long ALTER) keeps the steps it made while
 * knex_migrations has no row for it: the next start runs the whole migration again, and a plain
 * CREATE TABLE or ADD INDEX of a step already made fails the same way on every retry. Each step
 * here is one DDL statement and is skipped when its result is already there. SQLite runs each
 * migration in one transaction, so there the checks always find nothing to skip.
 *
 * This file lives beside db/migrations, not in it: knex takes every file in that directory for a
 * migration.
 */
import type { Knex } from 'knex';

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

/** The columns of index `name` on `table`, in order; empty when there is no such index. */
export async function indexColumns(knex: Knex, table: string, name: string): Promise<string[]> {
  if (isMysql(knex)) {
    const [rows] = (await knex.raw(
      `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX`,
      [table, name],
    )) as [Array<{ name: string }>];
    return rows.map((r) => r.name);
  }
  const owner = (await knex('sqlite_master').where({ type: 'index', name, tbl_name: table }).first('name')) as unknown;
  if (owner === undefined) return [];
  const rows = (await knex.raw('SELECT name FROM pragma_index_info(?) ORDER BY seqno', [name])) as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

export async function hasIndex(knex: Knex, table: string, name: string): Promise<boolean> {
  return (await indexColumns(knex, table, name)).length > 0;
}

/**
 * CREATE TABLE unless the table is there, then each of its secondary indexes unless it is there
 * (knex issues those as statements of their own). `build` names the columns and primary key only.
 */
export async function createTableSteps(
  knex: Knex,
  table: string,
  build: (t: Knex.CreateTableBuilder) => void,
  indexes: Record<string, string[]> = {},
): Promise<void> {
  if (!(await knex.schema.hasTable(table))) await knex.schema.createTable(table, build);
  for (const [name, columns] of Object.entries(indexes)) await addIndexStep(knex, table, name, columns);
}

export async function addIndexStep(knex: Knex, table: string, name: string, columns: string[]): Promise<void> {
  if (await hasIndex(knex, table, name)) return;
  await knex.schema.alterTable(table, (t) => {
    t.index(columns, name);
  });
}

export async function dropIndexStep(knex: Knex, table: string, name: string, columns: string[]): Promise<void> {
  if (!(await hasIndex(knex, table, name))) return;
  await knex.schema.alterTable(table, (t) => {
    t.dropIndex(columns, name);
  });
}

/** ADD COLUMN unless the column is there; `add` declares that one column. */
export async function addColumnStep(
  knex: Knex,
  table: string,
  column: string,
  add: (t: Knex.AlterTableBuilder) => void,
): Promise<void> {
  if (await knex.schema.hasColumn(table, column)) return;
  await knex.schema.alterTable(table, add);
}

export async function dropColumnStep(knex: Knex, table: string, column: string): Promise<void> {
  if (!(await knex.schema.hasColumn(table, column))) return;
  await knex.schema.alterTable(table, (t) => {
    t.dropColumn(column);
  });
}

/** Whether `table.column` accepts NULL. */
export async function isNullable(knex: Knex, table: string, column: string): Promise<boolean> {
  const info = (await knex(table).columnInfo(column as never)) as unknown as { nullable: boolean };
  return info.nullable;
}
