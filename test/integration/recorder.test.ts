/**
 * The recorder's fence, on each database: an attempt whose lease ran out, and whose delivery
 * another worker has claimed since, must leave that delivery's state to the other worker and
 * still keep the history of what it did, marked, numbered after the delivery's other attempts and
 * counted as an attempt; the attempts of the same batch whose leases held are written as usual.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import type { AttemptResult } from '../../src/delivery/attempt';
import { DeliveryHistory } from '../../src/management/delivery-history';
import { deliveryRow, insertEvents } from '../../src/ingest/outbox-rows';
import { claimDue } from '../../src/outbox/claim';
import { recordAttempts } from '../../src/outbox/record';
import { forEachDatabase } from '../support/databases';

const HEALTH = { disableAfterFailures: 0, disableAfterMs: 0 };

forEachDatabase('recorder: attempts whose lease was lost', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  it('leaves a delivery claimed since by another worker alone, keeps its attempt, and writes the rest', async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    const now = Date.now();
    const events = ['e-1', 'e-2', 'e-3'].map((id) => ({ tenantId: 'tenant-a', id, type: 'user.login', organizationId: null, occurredAt: now, payload: '{}' }));
    await insertEvents(db, events, 1, now);
    await db('deliveries').insert(events.map((e) => deliveryRow(e, 'wh_1', now)));
    await db('webhook_stats').insert({ webhook_id: 'wh_1', tenant_id: 'tenant-a' });

    const claimed = await claimDue(db, { limit: 10, leaseMs: 60_000, now });
    expect(claimed).to.have.length(3);
    // The second one's lease ran out and another worker claimed it.
    const taken = claimed[1]!;
    await db('deliveries').where({ id: taken.id }).update({ claim_id: 'clm_other', next_attempt_at: now + 60_000 });

    const ok: AttemptResult = { startedAt: now, durationMs: 5, statusCode: 200, responseBody: 'ok', responseHeaders: {}, errorClass: null, errorMessage: null };
    const results = await recordAttempts(
      db,
      claimed.map((c) => ({ claimed: c, result: ok, outcome: { status: 'succeeded' as const }, at: now + 10 })),
      HEALTH,
    );
    expect(results.map((r) => r.kept)).to.deep.equal([true, false, true]);

    const rows = (await db('deliveries').select('id', 'status', 'claim_id', 'attempt_count').orderBy('id')) as Array<Record<string, unknown>>;
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const c of [claimed[0]!, claimed[2]!]) expect(byId.get(c.id)).to.include({ status: 'succeeded', claim_id: null, attempt_count: 1 });
    // Its state is the other worker's; only its attempt count takes in the attempt made.
    expect(byId.get(taken.id)).to.include({ status: 'pending', claim_id: 'clm_other', attempt_count: 1 });
    // Every attempt made is in the history, the lost one too.
    const attempts = (await db('delivery_attempts').pluck('delivery_id')) as string[];
    expect(attempts.sort()).to.deep.equal(claimed.map((c) => c.id).sort());
    // Only the two kept ones count as delivered.
    const stats = (await db('webhook_stats').where({ webhook_id: 'wh_1' }).first()) as Record<string, unknown>;
    expect(Number(stats.deliveries_succeeded)).to.equal(2);
    expect(Number(stats.attempts)).to.equal(3);
  });

  // The auditor's case: A's POST reached the receiver, A stalled past its lease, B claimed the
  // delivery and got a 200, then A's attempt ended (a timeout) and was recorded. Both orders of
  // recording, since either worker's batch may commit first.
  for (const order of ['owner first', 'lost first'] as const) {
    it(`numbers, marks and counts an attempt whose lease was lost (${order})`, async () => {
      db = connect(parseDbUrl(await database.create()));
      await migrateLatest(db);
      const now = Date.now();
      const event = { tenantId: 'tenant-a', id: 'e-1', type: 'user.login', organizationId: null, occurredAt: now, payload: '{}' };
      await insertEvents(db, [event], 1, now);
      await db('deliveries').insert(deliveryRow(event, 'wh_1', now));
      await db('webhook_stats').insert({ webhook_id: 'wh_1', tenant_id: 'tenant-a' });

      const [stale] = await claimDue(db, { limit: 1, leaseMs: 1_000, now });
      const [owner] = await claimDue(db, { limit: 1, leaseMs: 60_000, now: now + 2_000 });
      expect(owner?.id).to.equal(stale?.id);
      expect(owner?.leaseExpired).to.equal(true);
      const ok: AttemptResult = { startedAt: now + 2_000, durationMs: 5, statusCode: 200, responseBody: 'ok', responseHeaders: {}, errorClass: null, errorMessage: null };
      const timedOut: AttemptResult = { startedAt: now, durationMs: 3_000, statusCode: null, responseBody: null, responseHeaders: {}, errorClass: 'timeout', errorMessage: 'headers timeout' };
      const recordOwner = () => recordAttempts(db!, [{ claimed: owner!, result: ok, outcome: { status: 'succeeded' }, at: now + 2_010 }], HEALTH);
      const recordStale = () => recordAttempts(db!, [{ claimed: stale!, result: timedOut, outcome: { status: 'pending', nextAttemptAt: now + 60_000 }, at: now + 3_000 }], HEALTH);
      const kept = order === 'owner first' ? [await recordOwner(), await recordStale()] : [await recordStale(), await recordOwner()].reverse();
      expect(kept.map(([r]) => r!.kept)).to.deep.equal([true, false]);

      const history = new DeliveryHistory(db);
      const delivery = await history.get('tenant-a', owner!.id);
      expect(delivery).to.include({ status: 'succeeded', attemptCount: 2 });
      const attempts = await history.attempts('tenant-a', owner!.id);
      // Two POSTs, numbered 1 and 2 in the order they were recorded; the lost one says so.
      expect(attempts.map((a) => a.attemptNumber)).to.deep.equal([1, 2]);
      const lost = attempts.find((a) => a.errorClass === 'lease_lost');
      expect(lost, 'the lost attempt is marked').to.not.equal(undefined);
      expect(lost!.errorMessage).to.contain('timeout: headers timeout');
      expect(attempts.filter((a) => a.errorClass === null).map((a) => a.statusCode)).to.deep.equal([200]);

      const stats = (await db('webhook_stats').where({ webhook_id: 'wh_1' }).first()) as Record<string, unknown>;
      expect(Number(stats.attempts)).to.equal(attempts.length);
      expect(Number(stats.attempts_succeeded)).to.equal(1);
      expect(Number(stats.deliveries_succeeded)).to.equal(1);
      // The stalled worker's timeout does not start a failure streak against the endpoint.
      expect(Number(stats.consecutive_failures)).to.equal(0);
      expect(stats.last_failure_at).to.equal(null);
      const hourly = (await db('webhook_stats_hourly').where({ webhook_id: 'wh_1' }).sum({ attempts: 'attempts' }).first()) as { attempts: unknown };
      expect(Number(hourly.attempts)).to.equal(2);
    });
  }
});
