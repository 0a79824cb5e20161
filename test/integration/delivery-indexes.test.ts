/**
 * The indexes of deliveries, on each database.
 *
 * - An upgrade over data the previous version wrote: deliveries of a tenant's own webhooks held
 *   no event_tenant_id, and retention found finished deliveries by an index on completed_at.
 *   After the migration that dropped that index (and merged the two event indexes), retention
 *   must still keep every event a pending delivery needs and purge only what is old and finished.
 * - A rolling upgrade: replicas of the previous version go on writing deliveries without
 *   event_tenant_id after the migration; retention must not purge their events.
 */
import { expect } from 'chai';
import { ulid } from 'ulid';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, isMysql, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { purgeOnce } from '../../src/outbox/retention';
import { forEachDatabase } from '../support/databases';
import { migrateUp, rollBackThrough } from '../support/migrations';

const DAY_MS = 86_400_000;
const LEAN_INDEXES = '20261130000000_lean_delivery_indexes.js';

forEachDatabase('deliveries indexes', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  it('fills in event_tenant_id, and retention keeps the events pending deliveries need', async () => {
    db = connect(parseDbUrl(await database.create()));
    await db.migrate.latest(MIGRATOR_CONFIG);
    // Back to the version before it (this also runs the migration's down), and its rows.
    expect(await rollBackThrough(db, LEAN_INDEXES)).to.include(LEAN_INDEXES);
    const now = Date.now();
    const old = now - 40 * DAY_MS;
    const event = (id: string, createdAt: number) => ({
      tenant_id: 'tenant-a', id, type: 'user.login', occurred_at: createdAt, created_at: createdAt, delivery_count: 1, payload: '{}',
    });
    await db('events').insert([event('e-pending', old), event('e-done', old), event('e-late-done', old), event('e-new-done', now)]);
    const delivery = (eventId: string, createdAt: number, status: string, completedAt: number | null) => ({
      id: `msg_${ulid(createdAt)}`,
      tenant_id: 'tenant-a',
      event_tenant_id: null,
      webhook_id: 'wh_1',
      event_id: eventId,
      event_type: 'user.login',
      status,
      attempt_count: 1,
      next_attempt_at: status === 'pending' ? now : null,
      created_at: createdAt,
      updated_at: completedAt ?? createdAt,
      completed_at: completedAt,
    });
    const rows = [
      delivery('e-pending', old, 'pending', null),
      delivery('e-done', old, 'succeeded', old + 1_000),
      // Created long ago but finished (after a redelivery) within the retention period.
      delivery('e-late-done', old, 'failed', now - DAY_MS),
      delivery('e-new-done', now, 'succeeded', now),
    ];
    await db('deliveries').insert(rows);

    expect((await migrateUp(db))[0]).to.equal(LEAN_INDEXES);
    const tenants = (await db('deliveries').distinct('event_tenant_id')) as Array<{ event_tenant_id: string | null }>;
    expect(tenants).to.deep.equal([{ event_tenant_id: 'tenant-a' }]);
    const indexes = await deliveryIndexes(db);
    expect(indexes).to.include.members(['deliveries_by_event', 'deliveries_due']);
    for (const gone of ['deliveries_event', 'deliveries_completed', 'deliveries_platform_event']) expect(indexes).to.not.include(gone);

    // Retention of 30 days: only the delivery that finished 40 days ago is old enough, with its event.
    const cutoff = now - 30 * DAY_MS;
    let removed = 0;
    for (let n = await purgeOnce(db, cutoff); n > 0; n = await purgeOnce(db, cutoff)) removed += n;
    expect(removed).to.equal(2);
    const left = ((await db('deliveries').select('event_id').orderBy('event_id')) as Array<{ event_id: string }>).map((r) => r.event_id);
    expect(left).to.deep.equal(['e-late-done', 'e-new-done', 'e-pending']);
    const events = ((await db('events').select('id').orderBy('id')) as Array<{ id: string }>).map((r) => r.id);
    expect(events).to.deep.equal(['e-late-done', 'e-new-done', 'e-pending']);
  });

  it('keeps the event of a delivery that a replica of the previous version wrote without event_tenant_id', async () => {
    db = connect(parseDbUrl(await database.create()));
    await db.migrate.latest(MIGRATOR_CONFIG);
    const now = Date.now();
    const old = now - 40 * DAY_MS;
    const event = { tenant_id: 'tenant-a', type: 'user.login', occurred_at: old, created_at: old, delivery_count: 1, payload: '{}' };
    await db('events').insert([{ ...event, id: 'e-redelivered' }, { ...event, id: 'e-forgotten' }]);
    // During a rolling upgrade: a redelivery of an old event, written by an old replica.
    await db('deliveries').insert({
      id: `msg_${ulid(now)}`, tenant_id: 'tenant-a', event_tenant_id: null, webhook_id: 'wh_1', event_id: 'e-redelivered',
      event_type: 'user.login', status: 'pending', attempt_count: 0, next_attempt_at: now, created_at: now, updated_at: now, completed_at: null,
    });

    for (let n = await purgeOnce(db, now - 30 * DAY_MS); n > 0; n = await purgeOnce(db, now - 30 * DAY_MS));
    expect(await db('events').orderBy('id').pluck('id')).to.deep.equal(['e-redelivered']);
    expect(await db('deliveries').pluck('event_tenant_id')).to.deep.equal(['tenant-a']);
  });
});

async function deliveryIndexes(db: Db): Promise<string[]> {
  if (isMysql(db)) {
    const [rows] = (await db.raw('SHOW INDEX FROM deliveries')) as [Array<{ Key_name: string }>];
    return [...new Set(rows.map((r) => r.Key_name))];
  }
  const rows = (await db.raw("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries'")) as Array<{ name: string }>;
  return rows.map((r) => r.name);
}
