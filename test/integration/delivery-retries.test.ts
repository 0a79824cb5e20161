/**
 * Retries on each database, against real receivers: the backoff schedule as a receiver sees it,
 * giving up after 1 + WEBHOOKS_MAX_RETRIES attempts, Retry-After, 410 Gone disabling the webhook,
 * and per-webhook fairness (one endpoint holding every request open cannot starve the others).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { Env } from '../../src/config/config';
import { DeliveryStatus, type GetDeliveryResponse } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { TestReceiver, type ReceivedRequest } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-retries';
let eventSeq = 0;

forEachDatabase('delivery retries', (database) => {
  let sidecar: TestSidecar | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];

  async function start(overrides: Env = {}): Promise<TestSidecar> {
    sidecar = await startSidecar(await database.create(), overrides);
    return sidecar;
  }

  async function receiver(): Promise<TestReceiver> {
    const r = await TestReceiver.start();
    cleanups.push(() => r.close());
    return r;
  }

  afterEach(async () => {
    // Held requests are answered first (cleanups run in order), so the worker stops at once.
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await sidecar?.stop();
    sidecar = undefined;
  });

  const admin = () => sidecar!.admin(TENANT);

  async function webhook(url: string, eventTypes = ['user.login']) {
    const { webhook: created, secret } = await admin().createWebhook({ url, eventTypes, description: '', organizationIds: [] });
    return { id: created!.id, secret };
  }

  async function publish(type = 'user.login'): Promise<string> {
    const id = `evt-${++eventSeq}`;
    await sidecar!.ingest.publishEvent({
      event: { id, tenantId: TENANT, type, occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
    });
    return id;
  }

  async function deliveriesOf(webhookId: string, status = DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED) {
    const page = await admin().listDeliveries({ webhookId, status, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '' });
    return page.deliveries;
  }

  /** Waits for the delivery to leave "pending", then checks how it ended. */
  async function ended(deliveryId: string, status: DeliveryStatus): Promise<GetDeliveryResponse> {
    let last: GetDeliveryResponse | undefined;
    await waitUntil(
      async () => (last = await admin().getDelivery({ id: deliveryId })).delivery!.status !== DeliveryStatus.DELIVERY_STATUS_PENDING,
      `delivery ${deliveryId} to end`,
    );
    const { status: actual, lastError } = last!.delivery!;
    expect(DeliveryStatus[actual], `how the delivery ended (last error: "${lastError}")`).to.equal(DeliveryStatus[status]);
    return last!;
  }

  const gaps = (requests: readonly ReceivedRequest[]) => requests.slice(1).map((r, i) => r.at - requests[i]!.at);
  const countById = (requests: readonly ReceivedRequest[]) => {
    const counts: Record<string, number> = {};
    for (const r of requests) counts[r.headers['webhook-id'] as string] = (counts[r.headers['webhook-id'] as string] ?? 0) + 1;
    return counts;
  };

  it('retries a receiver that fails 3 times with growing gaps, one webhook-id and a fresh signature each time', async () => {
    await start({ WEBHOOKS_RETRY_BASE_MS: '100', WEBHOOKS_MAX_RETRIES: '3' });
    const flaky = await receiver();
    flaky.respondWith((_req, i) => (i < 3 ? { status: 500, body: `down ${i + 1}` } : { status: 200, body: 'ok' }));
    const { id: webhookId, secret } = await webhook(flaky.url);
    await publish();

    const requests = await flaky.waitForRequests(4);
    const [delivery] = await deliveriesOf(webhookId);
    const { delivery: done, attempts } = await ended(delivery!.id, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);

    expect(requests.map((r) => r.headers['webhook-id'])).to.deep.equal(Array(4).fill(delivery!.id));
    const verifier = new StandardWebhook(secret);
    for (const r of requests) {
      const headers = { 'webhook-id': r.headers['webhook-id'] as string, 'webhook-timestamp': r.headers['webhook-timestamp'] as string, 'webhook-signature': r.headers['webhook-signature'] as string };
      expect(() => verifier.verify(r.body, headers), `attempt at ${r.at}`).not.to.throw();
    }
    // base 100 ms ×4 per retry, ±20%: ≈100, 400, 1600 ms. The gap cannot be shorter than the
    // jittered delay; the slack above it is the 50 ms poll and the attempt's own write.
    const [g1, g2, g3] = gaps(requests) as [number, number, number];
    expect(g2, 'second gap').to.be.greaterThan(g1);
    expect(g3, 'third gap').to.be.greaterThan(g2);
    [g1, g2, g3].forEach((gap, i) => {
      const exact = 100 * 4 ** i;
      expect(gap, `gap ${i + 1}`).to.be.within(0.8 * exact, 1.2 * exact + 750);
    });
    // Each attempt is signed when it is made, and the retries span more than a second.
    const stamps = requests.map((r) => Number(r.headers['webhook-timestamp']));
    expect(stamps[3], 'webhook-timestamp of the last attempt').to.be.greaterThan(stamps[0]!);

    expect(done).to.include({ attemptCount: 4, lastStatusCode: 200, lastError: '' });
    expect(attempts.map((a) => a.attemptNumber)).to.deep.equal([1, 2, 3, 4]);
    expect(attempts.map((a) => a.statusCode)).to.deep.equal([500, 500, 500, 200]);
    expect(attempts.map((a) => a.errorClass)).to.deep.equal(['http_status', 'http_status', 'http_status', '']);
    expect(requests).to.have.length(4);
  });

  it('gives up after 1 + WEBHOOKS_MAX_RETRIES attempts, keeps every status and body, and sends nothing after', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '2' });
    const broken = await receiver();
    broken.respondWith((_req, i) => ({ status: 500, body: `error page ${i + 1}` }));
    const { id: webhookId } = await webhook(broken.url);
    await publish();

    await broken.waitForRequests(1);
    const first = broken.requests[0]!.headers['webhook-id'] as string;
    const { delivery, attempts } = await ended(first, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(delivery).to.include({ attemptCount: 3, lastStatusCode: 500 });
    expect(delivery!.nextAttemptTime).to.equal(undefined);
    expect(attempts.map((a) => [a.attemptNumber, a.statusCode, a.errorClass])).to.deep.equal([
      [1, 500, 'http_status'],
      [2, 500, 'http_status'],
      [3, 500, 'http_status'],
    ]);
    expect(attempts.map((a) => a.responseBody)).to.deep.equal(['error page 1', 'error page 2', 'error page 3']);

    // A second event to the same receiver runs its own full course; meanwhile the worker is
    // busy with that endpoint, and the first delivery gets no fourth POST.
    await publish();
    const second = (await deliveriesOf(webhookId)).find((d) => d.id !== first)!;
    await ended(second.id, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(countById(broken.requests)).to.deep.equal({ [first]: 3, [second.id]: 3 });
    const stats = await admin().getWebhookStats({ webhookId, window: undefined });
    expect(stats.stats).to.include({ deliveriesFailed: 2, deliveriesPending: 0, attempts: 6 });
  });

  for (const status of [429, 503]) {
    it(`waits for Retry-After: 1 on ${status} although the retry base is 100 ms`, async () => {
      await start({ WEBHOOKS_RETRY_BASE_MS: '100' });
      const throttling = await receiver();
      throttling.respondWith((_req, i) => (i === 0 ? { status, body: 'slow down', headers: { 'retry-after': '1' } } : { status: 200 }));
      await webhook(throttling.url);
      await publish();

      const [r1, r2] = await throttling.waitForRequests(2);
      expect(r2!.at - r1!.at, 'gap after Retry-After: 1').to.be.within(1_000, 2_500);
      const { attempts } = await ended(r1!.headers['webhook-id'] as string, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
      expect(attempts.map((a) => a.statusCode)).to.deep.equal([status, 200]);
      expect(attempts[0]!.responseHeaders['retry-after']).to.equal('1');
    });
  }

  it('disables the webhook on 410 Gone and keeps later events as paused deliveries, unsent', async () => {
    await start();
    const gone = await receiver();
    gone.respondWith(() => ({ status: 410, body: 'gone' }));
    const control = await receiver();
    const { id: goneId } = await webhook(gone.url);
    await webhook(control.url);
    await publish();

    await waitUntil(async () => !(await admin().getWebhook({ id: goneId })).webhook!.enabled, 'the webhook to be disabled');
    const { webhook: disabled } = await admin().getWebhook({ id: goneId });
    expect(disabled!.disabledReason).to.contain('410');
    expect(gone.requests).to.have.length(1);

    // The next event goes to both webhooks in one commit: the healthy one gets it, the
    // disabled one keeps it paused.
    const later = await publish();
    await control.waitForRequests(2);
    const paused = (await deliveriesOf(goneId, DeliveryStatus.DELIVERY_STATUS_PAUSED)).filter((d) => d.eventId === later);
    expect(paused).to.have.length(1);
    expect(paused[0]).to.include({ attemptCount: 0 });
    expect((await deliveriesOf(goneId, DeliveryStatus.DELIVERY_STATUS_PENDING)).map((d) => d.eventId)).not.to.include(later);
    expect(gone.requests).to.have.length(1);
  });

  it('caps in-flight requests per webhook so a receiver holding every request open starves nobody', async () => {
    await start({
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '2',
      WEBHOOKS_DELIVERY_CONCURRENCY: '8',
      // Held requests must not time out while the test looks at them.
      WEBHOOKS_REQUEST_TIMEOUT_MS: '20000',
    });
    const slow = await holdingReceiver();
    cleanups.push(() => slow.close());
    const healthy = await receiver();
    await webhook(slow.url, ['user.login']);
    await webhook(healthy.url, ['user.logout']);

    // The slow endpoint's deliveries are older, so they come first in the claim order.
    for (let i = 0; i < 10; i++) await publish('user.login');
    for (let i = 0; i < 10; i++) await publish('user.logout');

    await healthy.waitForRequests(10);
    await waitUntil(() => slow.open === 2, 'the slow receiver to hold 2 requests');
    expect(slow.answered, 'requests the slow receiver let go').to.equal(0);
    expect(slow.maxOpen, 'most requests open at the slow receiver at once').to.equal(2);

    slow.release();
    await waitUntil(() => new Set(slow.ids).size === 10, 'all 10 slow deliveries to arrive', 20_000);
    expect(slow.maxOpen, 'most requests open at the slow receiver at once').to.be.at.most(2);
  });
});

/** A raw receiver that holds every request open until release(), then answers 200 at once. */
async function holdingReceiver() {
  const held: http.ServerResponse[] = [];
  let releasing = false;
  const state = { open: 0, maxOpen: 0, answered: 0, ids: [] as string[] };
  const server = http.createServer((req, res) => {
    state.ids.push(req.headers['webhook-id'] as string);
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    res.on('close', () => state.open--);
    req.resume();
    req.on('end', () => (releasing ? answer(res) : held.push(res)));
  });
  const answer = (res: http.ServerResponse) => {
    state.answered++;
    res.writeHead(200).end('ok');
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/hooks`,
    release() {
      releasing = true;
      for (const res of held.splice(0)) answer(res);
    },
    async close() {
      this.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
