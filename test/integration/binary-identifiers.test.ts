/**
 * The upgrade that makes MySQL compare strings byte for byte: rows a case-insensitive version
 * stored keep working, and from then on ids that differ only in case are different ids, as they
 * always were on SQLite.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, isMysql, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { forEachDatabase } from '../support/databases';
import { migrateUp, rollBackThrough } from '../support/migrations';

const BINARY_IDENTIFIERS = '20261203000000_binary_identifiers.js';

forEachDatabase('binary identifiers', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  it('tells ids that differ only in case apart, after an upgrade over stored rows', async () => {
    db = connect(parseDbUrl(await database.create()));
    await db.migrate.latest(MIGRATOR_CONFIG);
    expect(await rollBackThrough(db, BINARY_IDENTIFIERS)).to.include(BINARY_IDENTIFIERS);

    const now = Date.now();
    const event = (tenantId: string, id: string) => ({
      tenant_id: tenantId, id, type: 'user.login', occurred_at: now, created_at: now, delivery_count: 0, payload: '{}',
    });
    await db('events').insert(event('acme', 'evt-1'));
    const acmeByUpper = () => db!('events').where({ tenant_id: 'ACME', id: 'evt-1' }).pluck('tenant_id');
    // What the previous version did on MySQL: ACME found acme's event.
    expect(await acmeByUpper()).to.deep.equal(isMysql(db) ? ['acme'] : []);

    expect((await migrateUp(db))[0]).to.equal(BINARY_IDENTIFIERS);
    expect(await acmeByUpper()).to.deep.equal([]);
    expect(await db('events').where({ tenant_id: 'acme', id: 'evt-1' }).pluck('id')).to.deep.equal(['evt-1']);
    // Neither is a repeat of the stored event any more.
    await db('events').insert([event('ACME', 'evt-1'), event('acme', 'EVT-1')]);
    const keys = (await db('events').select('tenant_id', 'id')) as Array<{ tenant_id: string; id: string }>;
    expect(keys.map((k) => `${k.tenant_id}/${k.id}`).sort()).to.deep.equal(['ACME/evt-1', 'acme/EVT-1', 'acme/evt-1']);
  });
});
