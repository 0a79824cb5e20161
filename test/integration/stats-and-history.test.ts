/**
 * Statistics, history and retention, on each database with real receivers: after a mixed run of
 * successes, failures, retries and a held delivery, GetWebhookStats agrees with the history that
 * ListDeliveries and GetDelivery show (and still does after a redelivery); ListDeliveries filters
 * by webhook, status and time and pages newest first; the retention purge removes finished
 * deliveries, their attempts and their events, and keeps pending ones with their events.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import {
  DeliveryStatus,
  ListDeliveriesRequest,
  type Delivery,
  type DeliveryAttempt,
} from '../../src/grpc/generated/webhooks/v1/management';
import { RetentionTask } from '../../src/outbox/retention';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver, type ReceivedRequest, type Responder } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';
const DAY_MS = 24 * 3600 * 1000;
const { DELIVERY_STATUS_PENDING: PENDING, DELIVERY_STATUS_SUCCEEDED: SUCCEEDED, DELIVERY_STATUS_FAILED: FAILED } =
  DeliveryStatus;

function event(id: string, type = 'user.login'): Event {
  return { id, tenantId: TENANT, type, occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

const eventIdOf = (req: ReceivedRequest): string => (JSON.parse(req.body) as { id: string }).id;

/** 500 for the ids in `failing`, 503 with a Retry-After of an hour for those in `holding`, else 200. */
function keyedResponder(failing: Set<string>, holding: Set<string> = new Set()): Responder {
  return (req) => {
    const id = eventIdOf(req);
    if (holding.has(id)) return { status: 503, headers: { 'retry-after': '3600' } };
    return failing.has(id) ? { status: 500, body: 'no' } : { status: 200 };
  };
}

const endOf = (a: DeliveryAttempt): number => a.startTime!.getTime() + a.durationMs;
const ok = (a: DeliveryAttempt): boolean => a.statusCode >= 200 && a.statusCode < 300;

forEachDatabase('webhook statistics, delivery history and retention', (database) => {
  let sidecar: TestSidecar | undefined;
  const receivers: TestReceiver[] = [];

  async function start(env: Record<string, string> = {}): Promise<void> {
    sidecar = await startSidecar(await database.create(), env);
  }

  async function receiver(responder: Responder): Promise<TestReceiver> {
    const r = await TestReceiver.start();
    r.respondWith(responder);
    receivers.push(r);
    return r;
  }

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  const admin = (tenant = TENANT) => sidecar!.admin(tenant);
  const publish = (...events: Event[]) => sidecar!.ingest.publishEvents({ events });
  const createHook = async (url: string, eventTypes = ['user.login']) =>
    (await admin().createWebhook({ url, eventTypes, description: '', organizationIds: [] })).webhook!.id;
  const list = async (req: Partial<ListDeliveriesRequest>) =>
    admin().listDeliveries(ListDeliveriesRequest.fromPartial({ pageSize: 100, ...req }));

  /** Waits until no delivery of the webhook is due within the next ten minutes (nor in flight). */
  async function quiet(webhookId: string, count: number): Promise<Delivery[]> {
    let seen: Delivery[] = [];
    await waitUntil(async () => {
      seen = (await list({ webhookId })).deliveries;
      const later = Date.now() + 600_000;
      return seen.length === count && seen.every((d) => d.status !== PENDING || (d.attemptCount > 0 && d.nextAttemptTime!.getTime() > later));
    }, `the ${count} deliveries of ${webhookId} to settle`);
    return seen;
  }

  /** Stats against the history; returns the stats for further checks. */
  async function expectStatsMatchHistory(webhookId: string) {
    const deliveries = (await list({ webhookId })).deliveries;
    const attempts: DeliveryAttempt[] = [];
    for (const d of deliveries) {
      const got = await admin().getDelivery({ id: d.id });
      expect(got.attempts.map((a) => a.attemptNumber)).to.deep.equal([...Array(d.attemptCount).keys()].map((i) => i + 1));
      attempts.push(...got.attempts);
    }
    const stats = (await admin().getWebhookStats({ webhookId, window: undefined })).stats!;
    const byStatus = (s: DeliveryStatus) => deliveries.filter((d) => d.status === s).length;
    expect(stats).to.include({
      deliveriesSucceeded: byStatus(SUCCEEDED),
      deliveriesFailed: byStatus(FAILED),
      deliveriesPending: byStatus(PENDING),
      deliveriesPaused: 0,
      attempts: attempts.length,
    });
    expect(stats.successRate).to.be.closeTo(attempts.filter(ok).length / attempts.length, 1e-9);

    // One attempt in flight per webhook (WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK=1): start order is
    // the order the counters were updated in, and each was recorded before the next began.
    attempts.sort((a, b) => a.startTime!.getTime() - b.startTime!.getTime());
    let trailing = 0;
    while (trailing < attempts.length && !ok(attempts[attempts.length - 1 - trailing]!)) trailing++;
    expect(stats.consecutiveFailures).to.equal(trailing);
    const recordedAfter = (i: number, at: Date | undefined) => {
      expect(at, `the recording time of attempt ${i}`).to.be.instanceOf(Date);
      const next = attempts[i + 1]?.startTime!.getTime() ?? Date.now();
      expect(at!.getTime()).to.be.within(endOf(attempts[i]!), next);
    };
    const lastIndex = (pred: (a: DeliveryAttempt) => boolean) => attempts.length - 1 - [...attempts].reverse().findIndex(pred);
    if (attempts.some(ok)) recordedAfter(lastIndex(ok), stats.lastSuccessTime);
    else expect(stats.lastSuccessTime).to.equal(undefined);
    if (attempts.some((a) => !ok(a))) recordedAfter(lastIndex((a) => !ok(a)), stats.lastFailureTime);
    else expect(stats.lastFailureTime).to.equal(undefined);
    if (trailing > 0) recordedAfter(attempts.length - trailing, stats.failingSince);
    else expect(stats.failingSince).to.equal(undefined);
    return stats;
  }

  it('GetWebhookStats matches the history after a mixed run, and again after a redelivery', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '1', WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1' });
    const failing1 = new Set(['e2', 'e4', 'e8']);
    const hook1 = await createHook((await receiver(keyedResponder(failing1))).url);
    const hook2 = await createHook((await receiver(keyedResponder(new Set(['e5', 'e8']), new Set(['e3'])))).url);

    await publish(...['e1', 'e2', 'e3', 'e4', 'e5', 'e6'].map((id) => event(id)));
    await Promise.all([quiet(hook1, 6), quiet(hook2, 6)]);
    // Then a success and a failure, each alone, so that both webhooks end on a known streak of two.
    await publish(event('e7'));
    await Promise.all([quiet(hook1, 7), quiet(hook2, 7)]);
    await publish(event('e8'));
    await Promise.all([quiet(hook1, 8), quiet(hook2, 8)]);

    expect(await expectStatsMatchHistory(hook1)).to.include({
      deliveriesSucceeded: 5, deliveriesFailed: 3, deliveriesPending: 0, attempts: 11, consecutiveFailures: 2,
    });
    expect(await expectStatsMatchHistory(hook2)).to.include({
      deliveriesSucceeded: 5, deliveriesFailed: 2, deliveriesPending: 1, attempts: 10, consecutiveFailures: 2,
    });

    const e2 = (await list({ webhookId: hook1 })).deliveries.find((d) => d.eventId === 'e2')!;
    failing1.delete('e2');
    await admin().retryDelivery({ id: e2.id });
    await waitUntil(async () => (await admin().getDelivery({ id: e2.id })).delivery!.status === SUCCEEDED, 'the redelivery');
    expect(await expectStatsMatchHistory(hook1)).to.include({
      deliveriesSucceeded: 6, deliveriesFailed: 2, attempts: 12, consecutiveFailures: 0,
    });
  });

  it('ListDeliveries filters by webhook, status and time, and pages newest first without overlaps', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const hookA = await createHook((await receiver(keyedResponder(new Set(['a2', 'b1'])))).url);
    const hookB = await createHook((await receiver(keyedResponder(new Set()))).url);
    await publish(...['a1', 'a2', 'a3', 'a4'].map((id) => event(id)));
    await Promise.all([quiet(hookA, 4), quiet(hookB, 4)]);
    const mark = Date.now();
    await waitUntil(() => Date.now() > mark, 'the clock to move past the first batch');
    const boundary = new Date();
    await publish(...['b1', 'b2', 'b3'].map((id) => event(id)));
    const all = (await Promise.all([quiet(hookA, 7), quiet(hookB, 7)])).flat();

    const ids = (ds: Delivery[]) => ds.map((d) => d.id).sort();
    const where = (pred: (d: Delivery) => boolean) => ids(all.filter(pred));
    expect(ids((await list({ webhookId: hookA })).deliveries)).to.deep.equal(where((d) => d.webhookId === hookA));
    expect(ids((await list({ status: FAILED })).deliveries)).to.deep.equal(where((d) => d.status === FAILED));
    expect(where((d) => d.status === FAILED).length).to.equal(2);
    expect(ids((await list({ status: SUCCEEDED, webhookId: hookB })).deliveries)).to.have.length(7);
    expect((await list({ status: PENDING })).deliveries).to.have.length(0);
    const batch2 = where((d) => ['b1', 'b2', 'b3'].includes(d.eventId));
    expect(ids((await list({ startTime: boundary })).deliveries)).to.deep.equal(batch2).and.have.length(6);
    expect(ids((await list({ endTime: boundary })).deliveries)).to.deep.equal(where((d) => d.eventId.startsWith('a')));
    const windowed = await list({ startTime: boundary, endTime: new Date(), webhookId: hookA, status: FAILED });
    expect(windowed.deliveries.map((d) => d.eventId)).to.deep.equal(['b1']);

    const paged: Delivery[] = [];
    const sizes: number[] = [];
    let pageToken = '';
    do {
      const page = await list({ pageSize: 3, pageToken });
      sizes.push(page.deliveries.length);
      paged.push(...page.deliveries);
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && sizes.length < 10);
    expect(sizes).to.deep.equal([3, 3, 3, 3, 2]);
    expect(ids(paged)).to.deep.equal(ids(all));
    expect(paged.map((d) => d.id)).to.deep.equal(ids(all).reverse(), 'newest (largest ULID) first, no repeats');
    paged.slice(1).forEach((d, i) => expect(d.createTime!.getTime()).to.be.at.most(paged[i]!.createTime!.getTime()));

    expect((await rejectionOf(admin().getDelivery({ id: 'msg_01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).code).to.equal(status.NOT_FOUND);
    expect((await admin('tenant-b').listDeliveries(ListDeliveriesRequest.fromPartial({}))).deliveries).to.have.length(0);
  });

  it('the retention purge removes finished deliveries, their attempts and events, and keeps pending ones', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '1' });
    const hookA = await createHook((await receiver(keyedResponder(new Set(['bad-1'])))).url, ['user.login', 'user.created']);
    const holdingB = await receiver(keyedResponder(new Set(), new Set(['held-1', 'shared-1'])));
    const hookB = await createHook(holdingB.url, ['user.logout', 'user.created']);
    await publish(event('ok-1'), event('bad-1'), event('held-1', 'user.logout'), event('shared-1', 'user.created'));
    await publish({ ...event('orphan-1', 'mfa.enabled'), data: { user_id: 'u-1', method: 'totp' } });
    const finished = await quiet(hookA, 3);
    const pending = await quiet(hookB, 2);
    expect(finished.map((d) => d.status).sort()).to.deep.equal([SUCCEEDED, SUCCEEDED, FAILED].sort());
    expect(pending.map((d) => [d.status, d.attemptCount])).to.deep.equal([[PENDING, 1], [PENDING, 1]]);

    const db = sidecar!.app.db;
    const count = async (table: string) => Number(((await db(table).count({ n: '*' }).first()) as { n: number | string }).n);
    const eventIds = async () => ((await db('events').select('id').orderBy('id')) as Array<{ id: string }>).map((e) => e.id);
    const task = new RetentionTask(db, 30 * DAY_MS, 3_600_000, () => undefined);
    // Nothing is old yet: a purge now removes nothing.
    expect(await task.runOnce(Date.now())).to.equal(0);
    expect([await count('deliveries'), await count('delivery_attempts'), (await eventIds()).length]).to.deep.equal([5, 6, 5]);

    const removed = await task.runOnce(Date.now() + 40 * DAY_MS);
    expect(removed).to.be.greaterThan(0);
    const left = ((await db('deliveries').select('id')) as Array<{ id: string }>).map((d) => d.id).sort();
    expect(left).to.deep.equal(pending.map((d) => d.id).sort());
    expect(await db('delivery_attempts').whereIn('delivery_id', finished.map((d) => d.id))).to.have.length(0);
    // shared-1 stays for its pending delivery to webhook B, though its delivery to A is gone.
    expect(await eventIds()).to.deep.equal(['held-1', 'shared-1']);
    for (const d of finished) expect((await rejectionOf(admin().getDelivery({ id: d.id }))).code).to.equal(status.NOT_FOUND);

    // What was kept is still whole: the held delivery goes out with its event's body.
    holdingB.respondWith(() => ({ status: 200 }));
    const held = pending.find((d) => d.eventId === 'held-1')!;
    await admin().retryDelivery({ id: held.id });
    await waitUntil(async () => (await admin().getDelivery({ id: held.id })).delivery!.status === SUCCEEDED, 'the kept delivery');
    expect(holdingB.requests.slice(-1).map(eventIdOf)).to.deep.equal(['held-1']);
  });
});
