/**
 * How failed attempts are recorded, on each database, against real receivers: redirects (never
 * followed), timeouts, huge and endless bodies (cut at 4 KiB), refused connections, a
 * destination the sidecar refuses at connect time, and delivery slots all held by slow endpoints.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { DeliveryStatus, type GetDeliveryResponse } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { HoldingReceiver, processEnv, startProcessSidecar, stopProcessSidecars } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-failures';
/** The stored response body is cut at this many bytes (RESPONSE_BODY_LIMIT, proto: "at most 4 KiB"). */
const BODY_LIMIT = 4_096;
/** One attempt and no retry, so every delivery ends with its first attempt. */
const ONE_ATTEMPT: Env = { WEBHOOKS_MAX_RETRIES: '0' };
let eventSeq = 0;

forEachDatabase('failed delivery attempts', (database) => {
  let sidecar: TestSidecar | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];

  async function start(overrides: Env = {}, dbUrl?: string): Promise<TestSidecar> {
    sidecar = await startSidecar(dbUrl ?? (await database.create()), { ...ONE_ATTEMPT, ...overrides });
    return sidecar;
  }

  async function receiver(): Promise<TestReceiver> {
    const r = await TestReceiver.start();
    cleanups.push(() => r.close());
    return r;
  }

  async function rawReceiver(handler: http.RequestListener): Promise<{ url: string }> {
    const raw = await listen(handler);
    cleanups.push(() => raw.close());
    return raw;
  }

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await sidecar?.stop();
    sidecar = undefined;
  });

  const admin = () => sidecar!.admin(TENANT);

  async function webhook(url: string): Promise<string> {
    const { webhook: created } = await admin().createWebhook({ url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    return created!.id;
  }

  /** Publishes one event and returns its delivery to the webhook. */
  async function publishTo(webhookId: string): Promise<string> {
    const eventId = `evt-${++eventSeq}`;
    await sidecar!.ingest.publishEvent({
      event: { id: eventId, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
    });
    const page = await admin().listDeliveries({ webhookId, status: 0, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '' });
    return page.deliveries.find((d) => d.eventId === eventId)!.id;
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

  for (const status of [301, 302, 303, 307, 308]) {
    it(`records a ${status} as a failed "redirect" attempt and never contacts its Location`, async () => {
      await start();
      const canary = await receiver();
      const redirecting = await receiver();
      redirecting.respondWith(() => ({ status, body: 'moved', headers: { location: canary.url } }));
      const deliveryId = await publishTo(await webhook(redirecting.url));

      const { delivery, attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
      expect(delivery).to.include({ attemptCount: 1, lastStatusCode: status });
      expect(attempts).to.have.length(1);
      expect(attempts[0]).to.include({ statusCode: status, errorClass: 'redirect', responseBody: 'moved' });
      expect(attempts[0]!.responseHeaders.location).to.equal(canary.url);
      expect(redirecting.requests).to.have.length(1);
      // Following would have happened inside the attempt, before it was recorded.
      expect(canary.requests).to.have.length(0);
    });
  }

  it('records a receiver holding the request past WEBHOOKS_REQUEST_TIMEOUT_MS as a "timeout" without status', async () => {
    await start({ WEBHOOKS_REQUEST_TIMEOUT_MS: '300' });
    const held: http.ServerResponse[] = [];
    const slow = await rawReceiver((req, res) => {
      req.resume();
      held.push(res);
    });
    cleanups.unshift(() => held.forEach((res) => res.destroy()));
    const deliveryId = await publishTo(await webhook(slow.url));

    const { delivery, attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(held).to.have.length(1);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 0 });
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ statusCode: 0, errorClass: 'timeout', responseBody: '' });
    // The 300 ms deadline, not the 2 s default of the tests.
    expect(attempts[0]!.durationMs).to.be.within(295, 1_500);
  });

  it('also times out a 200 whose body trickles without end', async () => {
    await start({ WEBHOOKS_REQUEST_TIMEOUT_MS: '300' });
    const timers: NodeJS.Timeout[] = [];
    const trickling = await rawReceiver((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('.');
      timers.push(setInterval(() => res.write('.'), 20));
    });
    cleanups.unshift(() => timers.forEach(clearInterval));
    const deliveryId = await publishTo(await webhook(trickling.url));

    const { attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ errorClass: 'timeout' });
    expect(attempts[0]!.durationMs).to.be.within(295, 1_500);
  });

  it('stores at most 4096 bytes of a 1 MB error body', async () => {
    await start();
    const verbose = await receiver();
    verbose.respondWith(() => ({ status: 500, body: 'x'.repeat(1024 * 1024) }));
    const deliveryId = await publishTo(await webhook(verbose.url));

    const { attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(attempts[0]).to.include({ statusCode: 500, errorClass: 'http_status' });
    expect(attempts[0]!.responseBody).to.equal('x'.repeat(BODY_LIMIT));
  });

  it('never stores more than 4096 bytes when the cut falls inside a multi-byte character', async () => {
    await start();
    const verbose = await receiver();
    // "€" is 3 bytes in UTF-8: 4096 bytes end one byte into the 1366th.
    verbose.respondWith(() => ({ status: 500, body: '€'.repeat(10_000), headers: { 'content-type': 'text/plain; charset=utf-8' } }));
    const deliveryId = await publishTo(await webhook(verbose.url));

    const { attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    const stored = attempts[0]!.responseBody;
    expect(Buffer.byteLength(stored, 'utf8'), 'stored bytes').to.be.at.most(BODY_LIMIT);
    expect(stored).to.match(/^€+$/);
    expect(stored.length).to.be.at.least(1365);
  });

  it('succeeds on an endless 200 body: reads 4096 bytes of it and drops the connection', async () => {
    await start();
    let closed = false;
    const chunk = Buffer.alloc(16 * 1024, 'y');
    const endless = await rawReceiver((req, res) => {
      req.resume();
      res.on('close', () => (closed = true));
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const deliveryId = await publishTo(await webhook(endless.url));

    const { delivery, attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 200 });
    expect(attempts[0]).to.include({ statusCode: 200, errorClass: '' });
    expect(attempts[0]!.responseBody).to.equal('y'.repeat(BODY_LIMIT));
    await waitUntil(() => closed, 'the sidecar to drop the endless response');
  });

  it('records "connection_refused" for a port nothing listens on', async () => {
    await start();
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const deliveryId = await publishTo(await webhook(`http://127.0.0.1:${port}/hooks`));

    const { delivery, attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 0 });
    expect(delivery!.lastError).to.contain('connection_refused');
    expect(attempts[0]).to.include({ statusCode: 0, errorClass: 'connection_refused', responseBody: '' });
  });

  it('refuses at send time a destination that the allowed ranges no longer cover', async () => {
    // The same tokens and key across both starts, so the second sidecar can open the secret.
    const shared: Env = {
      WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    const dbUrl = await database.create();
    const target = await receiver();
    await start({ ...shared, WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32' }, dbUrl);
    const webhookId = await webhook(target.url);
    await sidecar!.stop();
    sidecar = undefined;

    await start({ ...shared, WEBHOOKS_ALLOWED_CIDRS: '127.0.0.2/32' }, dbUrl);
    const deliveryId = await publishTo(webhookId);

    const { delivery, attempts } = await ended(deliveryId, DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 0 });
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ statusCode: 0, errorClass: 'destination_refused' });
    expect(attempts[0]!.errorMessage).to.contain('127.0.0.1');
    expect(target.requests).to.have.length(0);
  });

  // The sidecar runs as a child process here: one whose event loop stopped would stop the test too.
  it('keeps sending while slow endpoints hold every delivery slot: a healthy endpoint gets its event', async () => {
    // One tenant, allowed every slot (by default a tenant gets half), so its two slow webhooks take both.
    const env = {
      WEBHOOKS_DELIVERY_CONCURRENCY: '2',
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1',
      WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: '2',
      WEBHOOKS_REQUEST_TIMEOUT_MS: '1000',
    };
    const child = await startProcessSidecar(processEnv(await database.create(), env));
    cleanups.push(() => stopProcessSidecars());
    const slow = [await HoldingReceiver.start(), await HoldingReceiver.start()];
    cleanups.unshift(...slow.map((r) => () => r.close()));
    const healthy = await receiver();
    const childAdmin = child.admin(TENANT);
    const subscribe = (url: string, type: string) => childAdmin.createWebhook({ url, eventTypes: [type], description: '', organizationIds: [] });
    const publish = (type: string) =>
      child.ingest.publishEvent({ event: { id: `evt-${++eventSeq}`, tenantId: TENANT, type, occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } } });
    await subscribe(slow[0]!.url(), 'user.login');
    await subscribe(slow[1]!.url(), 'user.logout');
    await subscribe(healthy.url, 'user.created');
    await publish('user.login');
    await publish('user.logout');
    await waitUntil(() => slow.every((r) => r.heldCount === 1), 'each slow endpoint to hold one request (both slots taken)');

    // Arrives while no slot is free: it must go out once a slow attempt times out (1 s).
    const published = publish('user.created').then(() => 'ok', (err: Error) => err.message);
    await waitUntil(() => healthy.requests.length > 0, 'the healthy endpoint to get its event', 10_000);
    expect(await published).to.equal('ok');
  });
});

/** A raw receiver on 127.0.0.1, port 0, with its own request handler. */
async function listen(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
