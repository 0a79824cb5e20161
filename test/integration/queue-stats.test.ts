/**
 * The queue gauges' query (src/outbox/queue-stats.ts), on each database: what it counts, the
 * oldest pending delivery's age read from its id, and, on MySQL, that it reads the
 * deliveries_due index alone. Reading each waiting row from the table instead cost 3.5 s a run
 * over 1.2 million paused deliveries, every 15 s on every replica.
 */
import { expect } from 'chai';
import { ulid } from 'ulid';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { deliveryIdAt, deliveryIdTime, newDeliveryId } from '../../src/ids';
import { deliveryRow } from '../../src/ingest/outbox-rows';
import type { ValidEvent } from '../../src/ingest/validate-event';
import { queueStats, queueStatsQuery } from '../../src/outbox/queue-stats';
import { forEachDatabase } from '../support/databases';

const NOW = Date.parse('2026-12-04T01:00:00.000Z');
const MINUTE = 60_000;

const event = (id: string): ValidEvent => ({
  tenantId: 'tenant-q', id, type: 'user.login', organizationId: null, occurredAt: NOW, payload: '{}', traceContext: null,
});

/** A delivery made `ageMs` before NOW, as ingest writes one then, with `changes` on top. */
function delivery(ageMs: number, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const at = NOW - ageMs;
  return { ...deliveryRow(event(`e-${ageMs}`), 'wh_q', at), id: `msg_${ulid(at)}`, ...changes };
}

describe('delivery ids carry their creation time', () => {
  it('deliveryIdTime reads back the time of a new id and of one made at a given time, and refuses other forms', () => {
    const before = Date.now();
    const made = deliveryIdTime(newDeliveryId())!;
    expect(made).to.be.within(before, Date.now());
    expect(deliveryIdTime(`msg_${ulid(NOW)}`)).to.equal(NOW);
    // deliveryIdAt's bound is a prefix, not an id.
    expect(deliveryIdTime(deliveryIdAt(NOW))).to.equal(null);
    expect(deliveryIdTime(`evt_${ulid(NOW)}`)).to.equal(null);
    expect(deliveryIdTime('msg_not-a-ulid!')).to.equal(null);
  });
});

forEachDatabase('queue gauges\' query', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  it('counts due, scheduled and paused deliveries, and dates the oldest pending one by its id', async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    await db('deliveries').insert([
      delivery(10 * MINUTE, { next_attempt_at: NOW - 5 * MINUTE }), // due 5 min ago, the oldest pending
      delivery(2 * MINUTE), // due since it was made
      delivery(1 * MINUTE, { next_attempt_at: NOW + MINUTE }), // a retry later
      delivery(60 * MINUTE, { status: 'paused', next_attempt_at: null }), // older, but paused
      delivery(90 * MINUTE, { status: 'succeeded', next_attempt_at: null, completed_at: NOW - 80 * MINUTE }), // history
    ]);
    expect(await queueStats(db, NOW)).to.deep.equal({
      due: 2,
      scheduled: 1,
      paused: 1,
      oldestPendingCreatedAt: NOW - 10 * MINUTE,
      oldestDueAt: NOW - 5 * MINUTE,
    });
  });

  it('reports nothing waiting on an empty outbox', async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    expect(await queueStats(db, NOW)).to.deep.equal({ due: 0, scheduled: 0, paused: 0, oldestPendingCreatedAt: null, oldestDueAt: null });
  });

  // On MySQL only: SQLite's planner is not what replicas run on.
  if (database.name !== 'mysql') return;
  it('reads the deliveries_due index alone on MySQL, never the table rows', async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    await db('deliveries').insert(Array.from({ length: 200 }, (_, i) => delivery(i * MINUTE, i % 2 ? { status: 'paused', next_attempt_at: null } : {})));
    await db.raw('ANALYZE TABLE deliveries');
    const [plan] = (await db.raw(`EXPLAIN ${queueStatsQuery(db, NOW).toString()}`)) as [Array<{ key: string | null; Extra: string }>];
    expect(plan).to.have.length(1);
    expect(plan[0]!.key).to.equal('deliveries_due');
    expect(plan[0]!.Extra).to.include('Using index');
  });
});
