/**
 * Readiness follows the database and shutdown. MariaDB is taken away from one sidecar through a
 * TCP proxy (the shared server stays up for everyone else): /readyz turns 503 and the gRPC health
 * service NOT_SERVING while /healthz stays 200; events published meanwhile answer UNAVAILABLE and
 * are not stored; once the proxy is back the sidecar is ready again and every event acknowledged
 * before the outage is delivered: the attempts whose results could not be written go again when
 * their leases run out.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { forEachDatabase, MYSQL_URL, testDatabases } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { grpcHealthOf, httpGet, Scrape } from '../support/ops';
import { createLogger } from '../../src/telemetry/logger';
import { MemoryLog } from '../support/memory-log';
import { deliveryStatusCounts, HoldingReceiver, openDb } from '../support/process-sidecar';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { TcpProxy } from '../support/tcp-proxy';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-ready';
/** The probe runs every 2 s and gives up after 5 s; a refused connection fails it at once. */
const FLIP_DEADLINE_MS = 10_000;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: `u-${id}` } };
}

async function readyz(port: number): Promise<number> {
  return (await httpGet(port, '/readyz')).status;
}

const mysql = testDatabases().find((d) => d.name === 'mysql');
(MYSQL_URL && mysql ? describe : describe.skip)('readiness while MariaDB is unreachable [mysql]', () => {
  let sidecar: TestSidecar | undefined;
  let proxy: TcpProxy | undefined;
  let receiver: HoldingReceiver | undefined;

  after(() => mysql?.dropAll());
  afterEach(async () => {
    await proxy?.restore();
    receiver?.answerAll(200);
    await sidecar?.stop();
    await receiver?.close();
    await proxy?.close();
    sidecar = undefined;
  });

  it('is not ready and refuses events during the outage, then delivers everything acknowledged before it', async function () {
    this.timeout(90_000);
    const direct = await mysql!.create();
    const proxied = await TcpProxy.inFrontOf(direct);
    proxy = proxied.proxy;
    const log = new MemoryLog();
    sidecar = await startSidecar(proxied.url, { WEBHOOKS_REQUEST_TIMEOUT_MS: '2000' }, { logger: createLogger('info', log) });
    const ops = sidecar.app.metricsPort;
    receiver = await HoldingReceiver.start();
    await sidecar.admin(TENANT).createWebhook({ url: receiver.url(), eventTypes: ['user.login'], description: '', organizationIds: [] });

    // Acknowledged before the outage, and held by the receiver so none is finished yet.
    const acknowledged = ['before-1', 'before-2', 'before-3', 'before-4', 'before-5'];
    const { results } = await sidecar.ingest.publishEvents({ events: acknowledged.map(login) });
    expect(results.map((r) => r.error)).to.deep.equal(acknowledged.map(() => undefined));
    await waitUntil(() => receiver!.heldCount === acknowledged.length, 'every acknowledged event in flight');
    expect(await readyz(ops)).to.equal(200);
    expect(await grpcHealthOf(sidecar.port)).to.equal('SERVING');

    await proxy.cut();
    await waitUntil(async () => (await readyz(ops)) === 503, '/readyz to turn 503', FLIP_DEADLINE_MS);
    const body = JSON.parse((await httpGet(ops, '/readyz')).body) as Record<string, unknown>;
    expect(body).to.include({ ready: false, databaseReachable: false, stopping: false });
    expect((await httpGet(ops, '/healthz')).status, 'alive all along').to.equal(200);
    for (const service of ['', 'webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement']) {
      expect(await grpcHealthOf(sidecar.port, service), service || 'overall').to.equal('NOT_SERVING');
    }
    const refused = [];
    for (const id of ['during-1', 'during-2']) {
      const err = await rejectionOf(sidecar.ingest.publishEvent({ event: login(id) }));
      refused.push(err.code);
    }
    expect(refused).to.deep.equal([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    // The held attempts end now, while their results cannot be written.
    receiver.answerAll(200);
    await waitUntil(
      async () => (await Scrape.of(ops)).value('webhooks_attempts_unrecorded_total') === acknowledged.length,
      'the attempts to end unrecorded',
    );

    await proxy.restore();
    const restoredAt = Date.now();
    await waitUntil(async () => (await readyz(ops)) === 200, '/readyz to turn 200 again', FLIP_DEADLINE_MS);
    expect(await grpcHealthOf(sidecar.port)).to.equal('SERVING');
    // The worker polled every 50 ms through the outage; one warning said so, not one per poll.
    await waitUntil(() => log.messages('claiming deliveries works again').length === 1, 'the worker to say claiming works again');
    const [recovered] = log.messages('claiming deliveries works again');
    expect(recovered!.failures).to.be.greaterThan(10);
    expect(log.messages('claiming deliveries failed')).to.have.length(1);

    // Nothing acknowledged is lost (attempts that could not be recorded go again once their
    // lease of 2 × 2 s + 1 s runs out); nothing refused was stored.
    const db = openDb(direct);
    try {
      await waitUntil(async () => (await deliveryStatusCounts(db)).succeeded === acknowledged.length, 'every acknowledged event delivered', 30_000);
      expect(await deliveryStatusCounts(db)).to.deep.equal({ succeeded: acknowledged.length });
      const stored = ((await db('events').select('id')) as Array<{ id: string }>).map((r) => r.id).sort();
      expect(stored).to.deep.equal(acknowledged);
    } finally {
      await db.destroy();
    }
    // The attempts made during the outage (answered, or timed out while held) left no record, so
    // each delivery went again, with its webhook-id, once its lease ran out.
    const firstRound = new Map(receiver.requests.filter((r) => r.at < restoredAt).map((r) => [r.eventId, r.webhookId]));
    const resent = receiver.requests.filter((r) => r.at >= restoredAt);
    expect(resent.map((r) => r.eventId).sort()).to.deep.equal(acknowledged);
    for (const r of resent) expect(r, r.eventId).to.include({ status: 200, webhookId: firstRound.get(r.eventId) });
    expect((await Scrape.of(ops)).value('webhooks_lease_expiries_total')).to.equal(acknowledged.length);
    expect(await sidecar.ingest.publishEvent({ event: login('after') })).to.have.nested.property('result.deliveryCount', 1);
  });
});

forEachDatabase('readiness on shutdown', (database) => {
  it('answers /readyz 503 and /healthz 200 while attempts drain', async function () {
    this.timeout(30_000);
    const sidecar = await startSidecar(await database.create(), { WEBHOOKS_SHUTDOWN_GRACE_MS: '3000' });
    const receiver = await HoldingReceiver.start();
    try {
      await sidecar.admin(TENANT).createWebhook({ url: receiver.url(), eventTypes: ['user.login'], description: '', organizationIds: [] });
      await sidecar.ingest.publishEvent({ event: login('held') });
      await waitUntil(() => receiver.heldCount === 1, 'the attempt held open');
      const ops = sidecar.app.metricsPort;
      expect(await readyz(ops)).to.equal(200);
      const stopped = sidecar.stop();
      // stop() waits up to the grace for the held attempt; the ops port answers meanwhile.
      expect(await readyz(ops)).to.equal(503);
      expect(JSON.parse((await httpGet(ops, '/readyz')).body)).to.include({ stopping: true, ready: false });
      expect((await httpGet(ops, '/healthz')).status).to.equal(200);
      receiver.answerAll(200);
      await stopped;
      const after = await httpGet(ops, '/healthz').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(after, 'the ops port closes last').to.equal('ECONNREFUSED');
    } finally {
      await receiver.close();
    }
  });
});
