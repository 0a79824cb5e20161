/**
 * How far ahead of its slots the worker claims (src/delivery/pace.ts), seen in the outbox: the
 * deliveries claimed and not yet received. A fast endpoint's backlog is claimed several slots
 * ahead, so each claim transaction carries more of it; a slow endpoint's is held at twice its
 * slots, so that nothing queued waits past half a request timeout.
 */
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

forEachDatabase('delivery worker: claims ahead by pace', (database) => {
  /**
   * Publishes `count` events to one webhook with one slot, and returns the most deliveries seen
   * claimed by the worker and not yet at the receiver, sampled until all have arrived.
   */
  async function mostClaimedAhead(count: number, requestTimeoutMs: number, answerDelayMs = 0): Promise<number> {
    const receiver = await TestReceiver.start();
    receiver.answerDelayMs = answerDelayMs;
    const sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_DELIVERY_CONCURRENCY: '1',
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1',
      WEBHOOKS_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
    });
    try {
      return await sampleDrain(sidecar, receiver, count);
    } finally {
      await sidecar.stop();
      await receiver.close();
    }
  }

  async function sampleDrain(sidecar: TestSidecar, receiver: TestReceiver, count: number): Promise<number> {
    const admin = sidecar.admin('tenant-a');
    await admin.createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    const events = Array.from({ length: count }, (_, i) => ({
      id: `evt-${i}`, tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
    }));
    await sidecar.ingest.publishEvents({ events });
    const db = sidecar.app.db;
    let most = 0;
    await waitUntil(
      async () => {
        const claimed = (await db('deliveries').whereNotNull('claim_id').andWhere('status', 'pending').pluck('id')) as string[];
        const received = new Set(receiver.requests.map((r) => r.headers['webhook-id']));
        most = Math.max(most, claimed.filter((id) => !received.has(id)).length);
        return receiver.requests.length >= count;
      },
      `${count} deliveries`,
      30_000,
      5,
    );
    return most;
  }

  it('claims up to six slots ahead for an endpoint that answers at once', async function () {
    this.timeout(60_000);
    expect(await mostClaimedAhead(150, 2_000)).to.be.at.least(4);
  });

  it('holds a slow endpoint at twice its slots: one sending, one queued', async function () {
    this.timeout(60_000);
    // 300 ms of a 1 s timeout: one more round starts within half the timeout, two would not.
    // One queued; the one sending is at the receiver, unless the sample caught it on its way.
    expect(await mostClaimedAhead(8, 1_000, 300)).to.be.within(1, 2);
  });
});
