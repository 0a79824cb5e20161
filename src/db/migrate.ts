import path from 'node:path';
import type { Db } from './connect';

/**
 * Compiled migrations live in dist/db/migrations; this file is dist/src/db/migrate.js.
 * knex's migrator takes a lock table, so replicas that start at once migrate one at a time.
 */
const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'db', 'migrations');

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({
    directory: MIGRATIONS_DIR,
    loadExtensions: ['.js'],
  })) as [number, string[]];
  return applied;
}
