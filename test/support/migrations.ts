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
