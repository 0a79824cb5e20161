/**
 * Ingest's multi-row inserts (src/db/prepared-insert.ts): prepared statements on MySQL, knex's
 * text elsewhere. Values come back as they went in; a connection keeps a bounded number of
 * statements; and when the server refuses to prepare one more, the rows still go in.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { insertRows } from '../../src/db/prepared-insert';
import { EVENT_COLUMNS } from '../../src/ingest/event-store';
import { forEachDatabase } from '../support/databases';


const event = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  tenant_id: 'tenant-a',
  id,
  type: 'user.login',
  organization_id: null,
  occurred_at: 1_795_851_273_272,
  created_at: 1_795_851_273_999,
  delivery_count: 3,
  payload: '{}',
  trace_context: null,
  ...extra,
});

async function preparedCount(db: Db): Promise<number> {
  const [rows] = (await db.raw("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as [Array<{ Value: string }>];
  return Number(rows[0]!.Value);
}

forEachDatabase('prepared inserts', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  async function migrated(poolMax?: number): Promise<Db> {
    db = connect(parseDbUrl(await database.create()), { poolMax });
    // Not migrateLatest: with a pool of one connection, its GET_LOCK would hold the only one.
    await db.migrate.latest(MIGRATOR_CONFIG);
    return db;
  }

  it('stores every value as given: nulls, quotes, backslashes, non-ASCII, millisecond times', async () => {
    const db = await migrated();
    const rows = [
      event('e-1', { payload: JSON.stringify({ ua: 'Mozilla "5.0" \\ \u00e9\u4e2d\ud83d\ude00', n: null }), organization_id: 'org-1', trace_context: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
      event('e-2', { payload: "it's\n\u0000 done" }),
    ];
    await db.transaction((trx) => insertRows(trx, 'events', EVENT_COLUMNS, rows));
    const stored = (await db('events').select(EVENT_COLUMNS).orderBy('id')) as Array<Record<string, unknown>>;
    expect(stored.map((r) => ({ ...r }))).to.deep.equal(rows);
  });

  it('rolls back with its transaction, and refuses a repeated key as a unique violation', async () => {
    const db = await migrated();
    // Written on the transaction's own connection: a rollback takes the rows back.
    const rolledBack = await db
      .transaction(async (trx) => {
        await insertRows(trx, 'events', EVENT_COLUMNS, [event('e-0')]);
        expect((await trx('events').pluck('id')) as string[]).to.deep.equal(['e-0']);
        throw new Error('roll back');
      })
      .then(() => undefined, (err: Error) => err.message);
    expect(rolledBack).to.equal('roll back');
    expect((await db('events').pluck('id')) as string[]).to.deep.equal([]);
    await db.transaction((trx) => insertRows(trx, 'events', EVENT_COLUMNS, [event('e-1')]));
    const failed = await db
      .transaction((trx) => insertRows(trx, 'events', EVENT_COLUMNS, [event('e-2'), event('e-1')]))
      .then(() => undefined, (err: { code?: string }) => err);
    expect(failed?.code ?? '').to.match(/ER_DUP_ENTRY|SQLITE_CONSTRAINT/);
    expect((await db('events').pluck('id')) as string[]).to.deep.equal(['e-1']);
  });

  if (database.name !== 'mysql') return;

  it('prepares statements, and a connection keeps at most 64 of them however many row counts it sees', async () => {
    const db = await migrated(1);
    const before = await preparedCount(db);
    for (let n = 1; n <= 80; n++) {
      await db.transaction((trx) => insertRows(trx, 'events', EVENT_COLUMNS, Array.from({ length: n }, (_, i) => event(`n${n}-${i}`))));
    }
    const kept = (await preparedCount(db)) - before;
    expect(kept).to.be.within(1, 64);
    expect(await db('events').count({ n: '*' }).first()).to.deep.equal({ n: (80 * 81) / 2 });
  });

  it('goes on as text when the server refuses to prepare another statement', async () => {
    const db = await migrated(1);
    const [rows] = (await db.raw('SELECT @@GLOBAL.max_prepared_stmt_count AS max')) as [Array<{ max: number }>];
    const max = Number(rows[0]!.max);
    await db.raw('SET GLOBAL max_prepared_stmt_count = 0');
    try {
      await db.transaction((trx) => insertRows(trx, 'events', EVENT_COLUMNS, [event('e-1'), event('e-2')]));
    } finally {
      await db.raw(`SET GLOBAL max_prepared_stmt_count = ${max}`);
    }
    expect((await db('events').orderBy('id').pluck('id')) as string[]).to.deep.equal(['e-1', 'e-2']);
  });
});
