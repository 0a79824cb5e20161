/**
 * Ingest's transaction (src/db/transaction.ts): on MySQL a pooled mysql2 connection outside knex,
 * with prepared multi-row inserts, and writes whose results nobody reads sent with the next
 * statement (BEGIN with the first); a knex transaction elsewhere. Values come back as they went in;
 * a failure rolls back everything and leaves the pool's connections usable; a connection keeps a
 * bounded number of statements; and when the server refuses to prepare one more, the rows still
 * go in.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { transaction, type Tx } from '../../src/db/transaction';
import { forEachDatabase } from '../support/databases';

/** Events as rows were written before the event_payloads migration: the body in events itself. */
const EVENT_COLUMNS = ['tenant_id', 'id', 'type', 'organization_id', 'occurred_at', 'created_at', 'delivery_count', 'payload', 'trace_context'];

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

const insertEvents = (db: Db, rows: Record<string, unknown>[]) => transaction(db, (tx) => tx.insert('events', EVENT_COLUMNS, rows));
const storedIds = async (db: Db) => (await db('events').orderBy('id').pluck('id')) as string[];

async function preparedCount(db: Db): Promise<number> {
  const [rows] = (await db.raw("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as [Array<{ Value: string }>];
  return Number(rows[0]!.Value);
}

forEachDatabase('ingest transaction', (database) => {
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
    await insertEvents(db, rows);
    const stored = (await db('events').select(EVENT_COLUMNS).orderBy('id')) as Array<Record<string, unknown>>;
    expect(stored.map((r) => ({ ...r }))).to.deep.equal(rows);
    // and a SELECT in a transaction reads them back with their types, placeholders bound
    const read = await transaction(db, (tx) =>
      tx.select<Record<string, unknown>>('events', `SELECT ${EVENT_COLUMNS.join(', ')} FROM events WHERE tenant_id = ? AND id IN (?, ?) ORDER BY id`, ['tenant-a', 'e-1', 'e-2']),
    );
    expect(read.map((r) => ({ ...r }))).to.deep.equal(rows);
  });

  it('rolls back with its transaction, and refuses a repeated key as a unique violation', async () => {
    const db = await migrated();
    // Written on the transaction's own connection: a rollback takes the rows back.
    const rolledBack = await transaction(db, async (tx) => {
      await tx.insert('events', EVENT_COLUMNS, [event('e-0')]);
      expect((await tx.select<{ id: string }>('events', 'SELECT id FROM events', [])).map((r) => r.id)).to.deep.equal(['e-0']);
      throw new Error('roll back');
    }).then(() => undefined, (err: Error) => err.message);
    expect(rolledBack).to.equal('roll back');
    expect(await storedIds(db)).to.deep.equal([]);
    await insertEvents(db, [event('e-1')]);
    const failed = await transaction(db, async (tx) => {
      await tx.insert('events', EVENT_COLUMNS, [event('e-2')]);
      await tx.insert('events', EVENT_COLUMNS, [event('e-3'), event('e-1')]);
    }).then(() => undefined, (err: { code?: string }) => err);
    expect(failed?.code ?? '').to.match(/ER_DUP_ENTRY|SQLITE_CONSTRAINT/);
    expect(await storedIds(db)).to.deep.equal(['e-1']);
  });

  it('runs UPDATEs and text INSERTs (the recorder\'s) in the same transaction, prepares neither, and rolls them back with it', async () => {
    const db = await migrated(1);
    await insertEvents(db, [event('e-1'), event('e-2')]);
    const before = database.name === 'mysql' ? await preparedCount(db) : 0;
    const bump = (tx: Tx, id: string) => tx.run('update', 'events', 'UPDATE events SET delivery_count = delivery_count + ? WHERE tenant_id = ? AND id = ?', [10, 'tenant-a', id]);
    await transaction(db, async (tx) => {
      await bump(tx, 'e-1');
      await tx.insert('events', EVENT_COLUMNS, [event('e-3', { payload: "it's \\ text" })], { prepared: false });
    });
    const failed = await transaction(db, async (tx) => {
      await bump(tx, 'e-2');
      await tx.insert('events', EVENT_COLUMNS, [event('e-4')], { prepared: false });
      throw new Error('roll back');
    }).then(() => undefined, (err: Error) => err.message);
    expect(failed).to.equal('roll back');
    const stored = (await db('events').select('id', 'delivery_count', 'payload').orderBy('id')) as Array<{ id: string; delivery_count: number; payload: string }>;
    expect(stored.map((r) => [r.id, Number(r.delivery_count)])).to.deep.equal([['e-1', 13], ['e-2', 3], ['e-3', 3]]);
    expect(stored[2]!.payload).to.equal("it's \\ text");
    if (database.name === 'mysql') expect(await preparedCount(db)).to.equal(before);
  });

  if (database.name !== 'mysql') return;

  it('gives a failed transaction\'s connection back rolled back, and replaces one that broke', async () => {
    const db = await migrated(1); // one connection: each transaction reuses the last one's
    await transaction(db, async (tx) => {
      await tx.insert('events', EVENT_COLUMNS, [event('e-0')]);
      throw new Error('roll back');
    }).catch(() => undefined);
    await insertEvents(db, [event('e-1')]);
    expect(await storedIds(db)).to.deep.equal(['e-1']);

    // The link breaks mid-transaction: its ROLLBACK cannot be sent, so the connection is closed.
    const killer = connect(parseDbUrl(await database.create()));
    try {
      const broken = await transaction(db, async (tx) => {
        await tx.insert('events', EVENT_COLUMNS, [event('e-2')]);
        const [{ id }] = await tx.select<{ id: number }>('events', 'SELECT CONNECTION_ID() AS id', []);
        await killer.raw(`KILL ${Number(id)}`);
        await tx.insert('events', EVENT_COLUMNS, [event('e-3')]);
      }).then(() => undefined, (err: Error) => err);
      expect(broken, 'the transaction on the killed connection').to.be.instanceOf(Error);
    } finally {
      await killer.destroy();
    }
    await insertEvents(db, [event('e-4')]);
    expect(await storedIds(db)).to.deep.equal(['e-1', 'e-4']);
  });

  /** Counts the round trips (queries and executions) on the pool's only connection. */
  async function countRoundTrips(db: Db): Promise<{ readonly count: number; readonly sql: string[] }> {
    const client = db.client as { acquireConnection(): Promise<Record<string, unknown>>; releaseConnection(c: unknown): Promise<void> };
    const connection = await client.acquireConnection();
    const seen = { count: 0, sql: [] as string[] };
    for (const method of ['query', 'execute']) {
      const original = connection[method] as (...args: unknown[]) => unknown;
      connection[method] = function (this: unknown, ...args: unknown[]) {
        seen.count += 1;
        seen.sql.push(String(args[0]));
        return original.apply(this, args);
      };
    }
    await client.releaseConnection(connection);
    return seen;
  }

  it('sends BEGIN with the first statement and the writes nobody reads with the next one: a SELECT, two UPDATEs, a text INSERT and COMMIT in two round trips', async () => {
    const db = await migrated(1);
    await insertEvents(db, [event('e-1'), event('e-2')]);
    const trips = await countRoundTrips(db);
    const read = await transaction(db, async (tx) => {
      const before = await tx.select<{ n: number }>('events', 'SELECT delivery_count AS n FROM events WHERE id = ?', ['e-1']);
      await tx.run('update', 'events', 'UPDATE events SET delivery_count = delivery_count + ? WHERE id = ?', [10, 'e-1']);
      await tx.run('update', 'events', 'UPDATE events SET delivery_count = delivery_count + ? WHERE id = ?', [20, 'e-2']);
      await tx.insert('events', EVENT_COLUMNS, [event('e-3', { payload: 'a ? b ; c' })], { prepared: false });
      return Number(before[0]!.n);
    });
    expect(read).to.equal(3);
    expect(trips.count, trips.sql.join('\n---\n')).to.equal(2);
    expect(trips.sql[0]).to.match(/^BEGIN;\nSELECT/);
    expect(trips.sql[1]).to.match(/^UPDATE[\s\S]*;\nUPDATE[\s\S]*;\nINSERT[\s\S]*;\nCOMMIT$/);
    const stored = (await db('events').select('id', 'delivery_count', 'payload').orderBy('id')) as Array<{ id: string; delivery_count: number; payload: string }>;
    expect(stored.map((r) => [r.id, Number(r.delivery_count)])).to.deep.equal([['e-1', 13], ['e-2', 23], ['e-3', 3]]);
    expect(stored[2]!.payload).to.equal('a ? b ; c');
  });

  it('reads its own held writes: a SELECT after them is sent with them, after them', async () => {
    const db = await migrated(1);
    await insertEvents(db, [event('e-1')]);
    const trips = await countRoundTrips(db);
    const n = await transaction(db, async (tx) => {
      await tx.run('update', 'events', 'UPDATE events SET delivery_count = ? WHERE id = ?', [7, 'e-1']);
      const rows = await tx.select<{ n: number }>('events', 'SELECT delivery_count AS n FROM events WHERE id = ?', ['e-1']);
      return Number(rows[0]!.n);
    });
    expect(n).to.equal(7);
    expect(trips.count).to.equal(2); // BEGIN, UPDATE, SELECT; then COMMIT
  });

  it('rolls back the whole transaction when a held write fails, and surfaces its error', async () => {
    const db = await migrated(1);
    await insertEvents(db, [event('e-1'), event('e-2')]);
    const failed = await transaction(db, async (tx) => {
      await tx.run('update', 'events', 'UPDATE events SET delivery_count = 99 WHERE id = ?', ['e-2']);
      await tx.insert('events', EVENT_COLUMNS, [event('e-3')], { prepared: false });
      await tx.insert('events', EVENT_COLUMNS, [event('e-1')], { prepared: false }); // a repeated key
      await tx.run('update', 'events', 'UPDATE events SET delivery_count = 98 WHERE id = ?', ['e-1']);
    }).then(() => undefined, (err: { code?: string }) => err);
    expect(failed?.code).to.equal('ER_DUP_ENTRY');
    const stored = (await db('events').select('id', 'delivery_count').orderBy('id')) as Array<{ id: string; delivery_count: number }>;
    expect(stored.map((r) => [r.id, Number(r.delivery_count)])).to.deep.equal([['e-1', 3], ['e-2', 3]]);
    // and the connection is back in the pool, usable, outside any transaction
    await insertEvents(db, [event('e-4')]);
    expect(await storedIds(db)).to.deep.equal(['e-1', 'e-2', 'e-4']);
  });

  it('sends nothing for a transaction that wrote and read nothing', async () => {
    const db = await migrated(1);
    const trips = await countRoundTrips(db);
    expect(await transaction(db, async () => 'done')).to.equal('done');
    expect(trips.count).to.equal(0);
  });

  it('prepares statements, and a connection keeps at most 64 of them however many row counts it sees', async () => {
    const db = await migrated(1);
    const before = await preparedCount(db);
    for (let n = 1; n <= 80; n++) {
      await insertEvents(db, Array.from({ length: n }, (_, i) => event(`n${n}-${i}`)));
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
      await insertEvents(db, [event('e-1'), event('e-2')]);
    } finally {
      await db.raw(`SET GLOBAL max_prepared_stmt_count = ${max}`);
    }
    expect(await storedIds(db)).to.deep.equal(['e-1', 'e-2']);
  });
});
