/** `npm run migrate`: applies pending migrations and exits, for operators and Helm hooks. */
import { loadConfigFromProcess } from '../config';
import { connect } from './connect';
import { migrateLatest } from './migrate';

async function main(): Promise<void> {
  const { config } = loadConfigFromProcess();
  const db = connect(config.db, { poolMax: 1 });
  try {
    const applied = await migrateLatest(db);
    process.stdout.write(
      applied.length === 0 ? 'Already up to date.\n' : `Applied: ${applied.join(', ')}\n`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`migrate failed: ${err.message}\n`);
  process.exit(1);
});
