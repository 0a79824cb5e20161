/**
 * The claim's per-webhook places, on each database. A hanging endpoint holds a backlog of old due
 * deliveries, and each time one of its attempts times out it has a free place again, so nearly
 * every claim finds it with room. Its old rows fill a claim's LIMIT, and it can take only one:
 * the claims that follow must skip it until it has more room, or the other webhooks' newer due
 * deliveries wait until its backlog drains (the isolation bench saw a healthy endpoint's
 * deliveries wait over 120 s behind two such backlogs). The same one level up: a tenant whose
 * hanging webhooks fill its places is skipped by its webhooks, or another tenant's due rows wait.
 *
 * And the worker that makes those claims: a claim that skips every webhook with due rows finds
 * nothing, while the slots it frees meanwhile empty the queue. The worker must then claim
 * again at once, not at its next poll; and so when its attempts' results, which stopped its
 * claims while they piled up, are written at last.
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { Places } from '../../src/delivery/places';
import { deliveryRow, insertEvents } from '../../src/ingest/outbox-rows';
import { claimDue } from '../../src/outbox/claim';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

forEachDatabase('claim: per-webhook places', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  async function due(webhookId: string, count: number, at: number, tenantId = 'tenant-a'): Promise<void> {
    const events = Array.from({ length: count }, (_, i) => ({
      tenantId, id: `${webhookId}-${i}`, type: 'user.login', organizationId: null, occurredAt: at, payload: '{}',
    }));
    await insertEvents(db!, events, 1, at);
    await db!('deliveries').insert(events.map((e) => deliveryRow(e, webhookId, at)));
  }

  /** One claim as the worker makes it; the number claimed per webhook. */
  async function claim(places: Places, now: number, limit = 8): Promise<Record<string, number>> {
    const reservation = places.reserve();
    const claimed = await claimDue(db!, {
      limit, leaseMs: 60_000, now, saturated: places.claimSkips(), take: (webhookId, tenantId) => reservation.take(webhookId, tenantId),
    });
    reservation.keep(claimed);
    places.claimed(reservation);
    const counts: Record<string, number> = {};
    for (const c of claimed) counts[c.webhookId] = (counts[c.webhookId] ?? 0) + 1;
    return counts;
  }

  it("reaches other webhooks' newer due rows while a webhook with a backlog of older ones has few places", async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    const now = Date.now();
    await due('wh_hanging', 40, now - 60_000);
    await due('wh_quiet', 1, now - 30_000);
    await due('wh_busy', 3, now - 1_000);

    // Eight places per webhook; seven of the hanging one's are taken by attempts still sending.
    const places = new Places(() => 8);
    places.add('wh_hanging', 7);
    // Its old rows fill the claim's LIMIT, and it takes the one place it has.
    expect(await claim(places, now)).to.deep.equal({ wh_hanging: 1 });
    // An attempt times out: a place again, and the next claim would fill up with its rows again.
    places.add('wh_hanging', -1);
    expect(await claim(places, now)).to.deep.equal({ wh_quiet: 1, wh_busy: 3 });
    // With a quarter of its places back it is looked at again, and takes them in one claim.
    places.add('wh_hanging', -1);
    expect(await claim(places, now)).to.deep.equal({ wh_hanging: 2 });
    const stamped = (await db('deliveries').whereNotNull('claim_id').count({ n: '*' }).first()) as { n: number | string };
    expect(Number(stamped.n)).to.equal(7);
  });

  it("reaches another tenant's newer due rows while a tenant with hanging webhooks has no places left", async () => {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    const now = Date.now();
    // The hanging tenant's backlog, older than the other tenant's row, across its three webhooks.
    const backlog = Array.from({ length: 60 }, (_, i) => ({
      tenantId: 'evil', id: `evil-${i}`, type: 'user.login', organizationId: null, occurredAt: now, payload: '{}',
    }));
    await insertEvents(db, backlog, 1, now);
    await db('deliveries').insert(backlog.map((e, i) => deliveryRow(e, `wh_e${(i % 3) + 1}`, now - 60_000 + i)));
    await due('wh_good', 1, now - 1_000, 'good');

    // Three places per webhook, eight per tenant: the tenant's cap binds before its webhooks'.
    const places = new Places(() => 3, () => 8);
    expect(await claim(places, now, 12)).to.deep.equal({ wh_e1: 3, wh_e2: 3, wh_e3: 2 });
    // An attempt times out: a place again, but the tenant is skipped until a quarter are free.
    places.add('wh_e1', -1, 'evil');
    expect(await claim(places, now, 12)).to.deep.equal({ wh_good: 1 });
    places.add('wh_e2', -1, 'evil');
    expect(await claim(places, now, 12)).to.deep.equal({ wh_e1: 1, wh_e3: 1 });
  });

  it("drains one webhook's backlog of many times its places without waiting for the poll", async function () {
    this.timeout(60_000);
    const receiver = await TestReceiver.start();
    // One in flight and one queued for the webhook, so a claim under way often outlasts both;
    // a poll too slow to hide a missed claim.
    const sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_DELIVERY_CONCURRENCY: '2',
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1',
      WEBHOOKS_POLL_INTERVAL_MS: '60000',
    });
    try {
      await sidecar.admin('tenant-a').createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
      for (let batch = 0; batch < 3; batch += 1) {
        const events = Array.from({ length: 100 }, (_, i) => ({
          id: `evt-${batch}-${i}`, tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
        }));
        await sidecar.ingest.publishEvents({ events });
      }
      await waitUntil(() => receiver.requests.length >= 300, 'the 300 deliveries', 30_000);
    } finally {
      await sidecar.stop();
      await receiver.close();
    }
  });

  // Held by a lock on another connection, on MySQL: SQLite's one writer would block the sidecar's
  // claims too, not only its recording.
  if (database.name === 'mysql') {
    it('claims again once a full recording queue has room, without waiting for the poll', async function () {
      this.timeout(60_000);
      const receiver = await TestReceiver.start();
      const url = await database.create();
      const sidecar = await startSidecar(url, {
        WEBHOOKS_DELIVERY_CONCURRENCY: '2',
        WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1',
        WEBHOOKS_POLL_INTERVAL_MS: '60000',
      });
      const locker = connect(parseDbUrl(url));
      try {
        const { webhook } = await sidecar.admin('tenant-a').createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
        // The webhook's counters row, locked: every attempt's write waits behind it, so attempts
        // pile up being recorded until sending and claiming stop (eight per slot).
        const held = await locker.transaction();
        await held('webhook_stats').where({ webhook_id: webhook!.id }).forUpdate().select('webhook_id');
        const events = Array.from({ length: 40 }, (_, i) => ({
          id: `evt-${i}`, tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
        }));
        await sidecar.ingest.publishEvents({ events });
        await waitUntil(() => receiver.requests.length >= 16, 'a full recording queue', 20_000);
        await held.rollback();
        await waitUntil(() => receiver.requests.length >= 40, 'the 40 deliveries', 15_000);
      } finally {
        await locker.destroy();
        await sidecar.stop();
        await receiver.close();
      }
    });
  }
});
