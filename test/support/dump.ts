/** Every row of every table of a test database, as text: what a leaked backup would show. */
import type { Knex } from 'knex';
import { isMysql } from '../../src/db/connect';

export async function tableNames(db: Knex): Promise<string[]> {
  if (isMysql(db)) {
    const [rows] = (await db.raw('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()')) as [
      Array<{ name: string }>,
    ];
    return rows.map((r) => r.name).sort();
  }
  const rows = (await db.raw("SELECT name FROM sqlite_master WHERE type = 'table'")) as Array<{ name: string }>;
  return rows.map((r) => r.name).sort();
}

/** One line per row: `table {json of every column}`. */
export async function dumpDatabase(db: Knex): Promise<string> {
  const lines: string[] = [];
  for (const table of await tableNames(db)) {
    const rows = (await db(table).select('*')) as Array<Record<string, unknown>>;
    for (const row of rows) lines.push(`${table} ${JSON.stringify(row)}`);
  }
  return lines.join('\n');
}

/** A secret's forms that must never be stored: as issued, its base64 part, and its key bytes. */
export function secretForms(secret: string): string[] {
  const base64 = secret.replace(/^whsec_/, '');
  const key = Buffer.from(base64, 'base64');
  return [secret, base64, key.toString('hex'), key.toString('base64url'), key.toString('latin1')];
}
