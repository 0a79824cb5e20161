/**
 * The recorder's fence, on each database: an attempt whose lease ran out, and whose delivery
 * another worker has claimed since, must leave that delivery alone (the other worker owns it)
 * and still keep the history of what it did; the attempts of the same batch whose leases held
 * are written as usual.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import type { AttemptResult } from '../../src/delivery/attempt';
import { deliveryRow, insertEvents } from '../../src/ingest/event-store';
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
    expect(byId.get(taken.id)).to.include({ status: 'pending', claim_id: 'clm_other', attempt_count: 0 });
    // Every attempt made is in the history, the lost one too.
    const attempts = (await db('delivery_attempts').pluck('delivery_id')) as string[];
    expect(attempts.sort()).to.deep.equal(claimed.map((c) => c.id).sort());
    // Only the two kept ones count as delivered.
    const stats = (await db('webhook_stats').where({ webhook_id: 'wh_1' }).first()) as Record<string, unknown>;
    expect(Number(stats.deliveries_succeeded)).to.equal(2);
  });
});
