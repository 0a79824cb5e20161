/**
 * The claim's per-webhook cap, on each database. A hanging endpoint holds a backlog of old due
 * deliveries, and each time one of its attempts times out it has a free place again, so every
 * claim the worker makes then finds it with room. Its old rows must not fill the claim's LIMIT
 * and keep the other webhooks' newer due deliveries out (the isolation bench saw a healthy
 * endpoint's deliveries wait over 120 s behind such a backlog).
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { Places } from '../../src/delivery/places';
import { deliveryRow, eventRow } from '../../src/ingest/event-store';
import { claimDue } from '../../src/outbox/claim';
import { forEachDatabase } from '../support/databases';

forEachDatabase('claim: per-webhook cap', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  async function due(webhookId: string, count: number, at: number): Promise<void> {
    const events = Array.from({ length: count }, (_, i) => ({
      tenantId: 'tenant-a', id: `${webhookId}-${i}`, type: 'user.login', organizationId: null, occurredAt: at, payload: '{}',
    }));
    await db!('events').insert(events.map((e) => eventRow(e, 1, at)));
    await db!('deliveries').insert(events.map((e) => deliveryRow(e, webhookId, at)));
  }

  it("claims other webhooks' newer due rows past a capped webhook's backlog of older ones", async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    const now = Date.now();
    await due('wh_hanging', 40, now - 60_000);
    await due('wh_quiet', 1, now - 30_000);
    await due('wh_busy', 3, now - 1_000);

    // Two places per webhook; the hanging one's other attempt is still sending.
    const places = new Places(2);
    places.add('wh_hanging', 1);
    const reservation = places.reserve();
    const claimed = await claimDue(db, {
      limit: 8, leaseMs: 60_000, now, saturated: places.full(), take: (webhookId) => reservation.take(webhookId),
    });
    reservation.keep(claimed);

    const byWebhook = (list: ReadonlyArray<{ webhookId: string }>) =>
      list.reduce<Record<string, number>>((n, c) => ({ ...n, [c.webhookId]: (n[c.webhookId] ?? 0) + 1 }), {});
    expect(byWebhook(claimed)).to.deep.equal({ wh_hanging: 1, wh_quiet: 1, wh_busy: 2 });
    // Only the claimed rows carry the claim.
    const stamped = (await db('deliveries').whereNotNull('claim_id').count({ n: '*' }).first()) as { n: number | string };
    expect(Number(stamped.n)).to.equal(4);
    expect(places.full().sort()).to.deep.equal(['wh_busy', 'wh_hanging']);
  });
});
