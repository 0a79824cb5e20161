/**
 * Migrations stopped partway. MySQL commits each DDL statement on its own, so a migration killed
 * between two of them (a pod killed while an ALTER waits on a lock, a Helm hook timing out)
 * leaves the steps it made, and knex_migrations no row: every later start runs the whole
 * migration again. Each migration must then finish from wherever it was left, with the schema
 * of a clean run.
 *
 * Deterministically: each migration's statements are recorded from a run by hand; for every
 * step k, the database is put back before the migration, the writes up to its k-th DDL statement
 * are replayed (what a run killed there leaves: later writes were in the open transaction), and
 * the migrator runs. On SQLite a migration is one transaction, so no step can be left; there,
 * as on MySQL, a migration that finished but was not recorded must run again without error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, isMysql, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { forEachDatabase } from '../support/databases';
import { schemaOf } from '../support/migrations';

interface Migration {
  up(knex: Knex): Promise<void>;
}
interface Statement {
  sql: string;
  bindings: readonly unknown[];
}

const DIR = MIGRATOR_CONFIG.directory as string;
const NAMES = fs.readdirSync(DIR).filter((f) => path.extname(f) === '.js').sort();
const DDL = /^\s*(create|alter|drop|rename)\b/i;
const READ = /^\s*(select|show|pragma)\b/i;

/** Runs `up` by hand, as a run killed after its last statement does: knex records nothing. */
async function runUnrecorded(db: Db, name: string): Promise<Statement[]> {
  const migration = (await import(path.join(DIR, name))) as Migration;
  const sent: Statement[] = [];
  const listen = (q: { sql: string; bindings?: unknown[] }) => sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
  db.on('query', listen);
  try {
    await migration.up(db);
  } finally {
    db.off('query', listen);
  }
  return sent;
}

/** The writes a run killed right after its `steps`-th DDL statement kept. */
function keptAfter(statements: Statement[], steps: number): Statement[] {
  const kept: Statement[] = [];
  let ddl = 0;
  for (const s of statements) {
    if (ddl === steps) break;
    if (READ.test(s.sql)) continue;
    kept.push(s);
    if (DDL.test(s.sql)) ddl += 1;
  }
  return kept;
}

async function migrateNext(db: Db): Promise<string[]> {
  const [, files] = (await db.migrate.up(MIGRATOR_CONFIG)) as [number, string[]];
  return files.map((f) => path.basename(f));
}

/** A new database with a production server's default collation (the test databases are binary). */
async function newDatabase(url: string): Promise<Db> {
  const db = connect(parseDbUrl(url));
  if (isMysql(db)) {
    const [[row]] = (await db.raw('SELECT DATABASE() AS name')) as [[{ name: string }]];
    await db.raw('ALTER DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci', [row.name]);
  }
  return db;
}

forEachDatabase('migrations stopped partway', (database) => {
  const dbs: Db[] = [];

  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.destroy();
  });

  it('finish from any step a stopped run left, with the schema of a clean run', async function () {
    this.timeout(600_000);
    const db = await newDatabase(await database.create());
    dbs.push(db);
    for (const name of NAMES) {
      const statements = await runUnrecorded(db, name);
      const done = await schemaOf(db);
      expect(await migrateNext(db), 'run again unrecorded').to.deep.equal([name]);
      expect(await schemaOf(db), `${name} run again after it finished`).to.deep.equal(done);
      if (isMysql(db)) await stopAtEachStep(db, name, statements, done);
      if (name === NAMES[0]) await addWebhook(db);
    }
    // The webhook made before the delivery engine got one counters row, however often it ran.
    expect(await db('webhook_stats').pluck('webhook_id')).to.deep.equal(['wh-before-stats']);

    const clean = await newDatabase(await database.create());
    dbs.push(clean);
    await clean.migrate.latest(MIGRATOR_CONFIG);
    expect(await schemaOf(db)).to.deep.equal(await schemaOf(clean));
  });
});

/** For each step but the last: back before the migration, that run's writes, the migrator. */
async function stopAtEachStep(db: Db, name: string, statements: Statement[], done: string[]): Promise<void> {
  const steps = statements.filter((s) => DDL.test(s.sql)).length;
  for (let k = 1; k < steps; k += 1) {
    await db.migrate.down(MIGRATOR_CONFIG);
    for (const s of keptAfter(statements, k)) await db.raw(s.sql, s.bindings as Knex.RawBinding[]);
    expect(await migrateNext(db), `${name} stopped after step ${k}`).to.deep.equal([name]);
    expect(await schemaOf(db), `${name} stopped after step ${k} of ${steps}`).to.deep.equal(done);
  }
}

/** A webhook of the first version, which the delivery engine's migration gives a counters row. */
async function addWebhook(db: Db): Promise<void> {
  const now = Date.now();
  await db('webhooks').insert({
    id: 'wh-before-stats', tenant_id: 'acme', url: 'https://example.com/h', event_types: '["*"]',
    secret_sealed: 'sealed', created_at: now, updated_at: now,
  });
}
