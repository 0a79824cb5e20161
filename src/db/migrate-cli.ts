/** `npm run migrate`: applies pending migrations and exits, for operators and Helm hooks. */
import { loadConfigFromProcess } from '../config';
import { connect } from './connect';
import { migrateLatest, newerNote } from './migrate';

async function main(): Promise<void> {
  const { config } = loadConfigFromProcess();
  // Two connections: on MySQL one holds the GET_LOCK that keeps replicas apart while the
  // migrator works on the other (with one, the migration waits for itself forever).
  const db = connect(config.db, { poolMax: 2 });
  try {
    const { applied, newer } = await migrateLatest(db);
    process.stdout.write(
      applied.length === 0 ? 'Already up to date.\n' : `Applied: ${applied.join(', ')}\n`,
    );
    if (newer.length > 0) process.stdout.write(`${newerNote(newer)}\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`migrate failed: ${err.message}\n`);
  process.exit(1);
});
