/**
 * When the delivery worker runs a claim transaction. Live events reach it through ingest's
 * handoff, already claimed, so at a calm rate a freed slot has nothing to claim: until the eighth
 * session each freed slot started a claim anyway, and at 50 events/s those claims were a third of
 * the sidecar's statements, every one finding nothing. A freed slot still claims when the last
 * claim filled up (below), or left due rows behind for want of places (claim-fairness.test.ts),
 * or the backlog would wait for the poll.
 */
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';

/** The worker's claim query (src/outbox/claim.ts), as knex reports it on either database. */
const CLAIM_QUERY = 'select `id`, `webhook_id`, `tenant_id`, `claim_id` from `deliveries`';

const login = (id: string) => ({
  id, tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
});

forEachDatabase('delivery worker: when a freed slot claims', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await sidecar?.stop();
    await receiver?.close();
    sidecar = receiver = undefined;
  });

  /** A sidecar whose poll never comes during the test, with one webhook; counts claim queries. */
  async function setUp(env: Record<string, string> = {}): Promise<{ claims: () => number }> {
    receiver = await TestReceiver.start();
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_POLL_INTERVAL_MS: '60000', ...env });
    await sidecar.admin('tenant-a').createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    let claims = 0;
    sidecar.app.db.on('query', (query: { sql: string }) => {
      if (query.sql.startsWith(CLAIM_QUERY)) claims += 1;
    });
    return { claims: () => claims };
  }

  it('runs no claim for events that arrive one at a time and are handed to it', async function () {
    this.timeout(60_000);
    const { claims } = await setUp();
    for (let i = 0; i < 12; i++) {
      await sidecar!.ingest.publishEvent({ event: login(`evt-${i}`) });
      await receiver!.waitForRequests(i + 1);
    }
    // Every delivery came through the handoff and its slot was freed; none of that asks the
    // database for due rows (before: one claim per freed slot, 12 here).
    expect(claims()).to.equal(0);
  });

  it('keeps claiming on freed slots while each claim fills up, without waiting for the poll', async function () {
    this.timeout(60_000);
    const { claims } = await setUp({ WEBHOOKS_DELIVERY_CONCURRENCY: '1', WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1' });
    // One batch of 40: the handoff takes what the one slot's queue holds, the rest is left due
    // and comes in claims no bigger than the room a freed slot makes.
    await sidecar!.ingest.publishEvents({ events: Array.from({ length: 40 }, (_, i) => login(`evt-${i}`)) });
    // With the poll a minute away, only claims after freed slots can bring the rest in time.
    await receiver!.waitForRequests(40, 20_000);
    expect(claims()).to.be.at.least(1);
  });
});
