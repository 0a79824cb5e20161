/**
 * Two sidecar processes on one MySQL database, as two replicas are: both ingest and both
 * deliver. Every delivery is sent, and none twice: with a receiver that answers 200 at once,
 * no lease (2 × timeout + 1 s) runs out, so a second POST of the same webhook-id would mean two
 * workers held the same row at once. The children log at debug level for "attempt succeeded"
 * (with the delivery id), the one per-process record of who sent what.
 */
import { expect } from 'chai';
import type { Db } from '../../src/db/connect';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { MYSQL_URL, testDatabases, type TestDatabase } from '../support/databases';
import {
  deliveryStatusCounts,
  openDb,
  processEnv,
  startProcessSidecar,
  stopProcessSidecars,
  type ProcessSidecar,
} from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-replicas';
const EVENTS = 2_000;
const BATCH = 100;
/** Each event matches two of the three webhooks. */
const WEBHOOKS = [
  { path: '/logins', eventTypes: ['user.login'] },
  { path: '/users', eventTypes: ['user.*'] },
  { path: '/logouts', eventTypes: ['user.logout'] },
];
const DELIVERIES = EVENTS * 2;

function event(i: number): Event {
  const type = i % 2 === 0 ? 'user.login' : 'user.logout';
  return { id: `evt-${i}`, tenantId: TENANT, type, occurredAt: new Date(), organizationId: '', data: { user_id: `u-${i % 97}` } };
}

/** Publishes every batch whose index is `offset` modulo `stride`, one batch after another. */
async function publishShare(sidecar: ProcessSidecar, offset: number, stride: number): Promise<number> {
  let deliveries = 0;
  for (let start = offset * BATCH; start < EVENTS; start += stride * BATCH) {
    const events = Array.from({ length: Math.min(BATCH, EVENTS - start) }, (_, i) => event(start + i));
    const { results } = await sidecar.ingest.publishEvents({ events });
    for (const r of results) {
      expect(r.error, `${r.eventId}: ${JSON.stringify(r.error)}`).to.equal(undefined);
      expect(r.duplicate, r.eventId).to.equal(false);
      deliveries += r.deliveryCount;
    }
  }
  return deliveries;
}

function succeededBy(sidecar: ProcessSidecar): string[] {
  return sidecar.logged('attempt succeeded').map((l) => String(l.deliveryId));
}

describe('e2e: two sidecar processes on one MySQL database', function () {
  this.timeout(240_000);
  let database: TestDatabase;
  let receiver: TestReceiver | undefined;
  let db: Db | undefined;

  before(function () {
    // SQLite is a single-process store (DESIGN.md, Storage); replicas need MySQL.
    if (!MYSQL_URL) this.skip();
    database = testDatabases().find((d) => d.name === 'mysql')!;
  });

  afterEach(async () => {
    await stopProcessSidecars();
    await receiver?.close();
    await db?.destroy();
    db = undefined;
  });

  after(() => database?.dropAll());

  it('starts two replicas at once on a new database: both migrate it (one waits for the other) and serve', async () => {
    const env = processEnv(await database.create());
    // As a Deployment's replicas start: both find the database unmigrated.
    const started = await Promise.allSettled([startProcessSidecar(env), startProcessSidecar(env)]);
    const failures = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(failures, 'replicas that failed to start').to.deep.equal([]);
    for (const s of started) {
      const sidecar = (s as PromiseFulfilledResult<ProcessSidecar>).value;
      const { eventTypes } = await sidecar.admin(TENANT).listEventTypes({});
      expect(eventTypes.length).to.be.greaterThan(0);
      sidecar.closeClients();
      sidecar.kill('SIGTERM');
      expect(await sidecar.waitForExit(15_000), sidecar.stderr).to.deep.equal({ code: 0, signal: null });
    }
  });

  it(`delivers ${DELIVERIES} deliveries of ${EVENTS} events, each exactly once, split between both processes`, async () => {
    const dbUrl = await database.create();
    receiver = await TestReceiver.start();
    // One env for both: the same tokens and key; each child listens on its own port 0.
    const env = processEnv(dbUrl, { WEBHOOKS_LOG_LEVEL: 'debug', WEBHOOKS_REQUEST_TIMEOUT_MS: '5000' });
    // One after the other, so that this test is about delivery (starting at once: the test below).
    const a = await startProcessSidecar(env);
    const b = await startProcessSidecar(env);
    const webhookIds: string[] = [];
    for (const w of WEBHOOKS) {
      const { webhook } = await a.admin(TENANT).createWebhook({ url: `${receiver.url}${w.path}`, eventTypes: w.eventTypes, description: w.path, organizationIds: [] });
      webhookIds.push(webhook!.id);
    }

    const shares = await Promise.all([publishShare(a, 0, 2), publishShare(b, 1, 2)]);
    expect(shares[0] + shares[1], 'deliveries the publish results announce').to.equal(DELIVERIES);
    await receiver.waitForRequests(DELIVERIES, 180_000);
    db = openDb(dbUrl);
    const open = db;
    await waitUntil(
      async () => (await deliveryStatusCounts(open)).succeeded === DELIVERIES,
      `${DELIVERIES} deliveries recorded as succeeded`,
      30_000,
    );

    // Every delivery arrived once: as many POSTs as deliveries, under as many webhook-ids.
    const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(twice, 'webhook-ids received more than once').to.deep.equal([]);
    expect(receiver.requests).to.have.length(DELIVERIES);
    const rows = (await open('deliveries').select('id')) as Array<{ id: string }>;
    expect(new Set(ids)).to.deep.equal(new Set(rows.map((r) => r.id)));
    expect(await deliveryStatusCounts(open)).to.deep.equal({ succeeded: DELIVERIES });
    const [{ n: attempts }] = (await open('delivery_attempts').count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(attempts), 'one attempt per delivery').to.equal(DELIVERIES);

    // The counters both processes bumped with every attempt lost no update.
    const perWebhook = receiver.requests.reduce((m, r) => m.set(r.path, (m.get(r.path) ?? 0) + 1), new Map<string, number>());
    for (const [i, id] of webhookIds.entries()) {
      const { stats } = await b.admin(TENANT).getWebhookStats({ webhookId: id, window: undefined });
      const sent = perWebhook.get(`/hooks${WEBHOOKS[i]!.path}`);
      expect(stats, WEBHOOKS[i]!.path).to.include({ deliveriesSucceeded: sent, attempts: sent, deliveriesPending: 0, deliveriesFailed: 0 });
    }

    // Their logs are complete once both have exited: a log line may trail its database write.
    for (const sidecar of [a, b]) {
      sidecar.closeClients();
      sidecar.kill('SIGTERM');
    }
    const exits = await Promise.all([a.waitForExit(15_000), b.waitForExit(15_000)]);
    expect(exits, `${a.stderr}\n${b.stderr}`).to.deep.equal([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);

    // Both replicas delivered, and no delivery was sent by both.
    const byA = succeededBy(a);
    const byB = succeededBy(b);
    expect(byA.length, 'deliveries sent by the first process').to.be.greaterThan(0);
    expect(byB.length, 'deliveries sent by the second process').to.be.greaterThan(0);
    const fromA = new Set(byA);
    expect(byB.filter((id) => fromA.has(id)), 'deliveries sent by both').to.deep.equal([]);
    expect(byA.length + byB.length).to.equal(DELIVERIES);
    for (const sidecar of [a, b]) {
      expect(sidecar.logged('attempt failed'), 'failed attempts').to.have.length(0);
      expect(sidecar.logged('lease lost before the attempt was recorded; another worker owns the delivery')).to.have.length(0);
    }
  });
});
