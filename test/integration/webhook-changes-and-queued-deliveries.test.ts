/**
 * A worker holds claimed deliveries in its queue before it sends them; a change to their webhook
 * must reach them there, on each database with real receivers. After UpdateWebhook or
 * RotateWebhookSecret returns on this process, no queued delivery goes to the old URL, signed
 * with the old secret, or to the disabled webhook; after a change made by another replica
 * (written here through the store, as its management would), none does once REFRESH_MS has
 * passed. A POST already under way may finish: one per webhook here, as
 * WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK is 1.
 */
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { DeliveryStatus, ListDeliveriesRequest, UpdateWebhookRequest, type Delivery } from '../../src/grpc/generated/webhooks/v1/management';
import { REFRESH_MS } from '../../src/delivery/webhook-views';
import { WebhookStore } from '../../src/management/webhook-store';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { signedWith } from '../support/signatures';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-changes';
const EVENTS = 20;
const { DELIVERY_STATUS_SUCCEEDED: SUCCEEDED, DELIVERY_STATUS_PAUSED: PAUSED } = DeliveryStatus;


function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

forEachDatabase('webhook changes and the deliveries a worker has queued', (database) => {
  let sidecar: TestSidecar;
  let oldReceiver: TestReceiver;
  let newReceiver: TestReceiver;

  beforeEach(async () => {
    // One POST at a time to the webhook: the worker queues the rest, up to five once it has seen
    // how long attempts take (src/delivery/pace.ts).
    // No overlap: after a rotation only the new secret may sign.
    sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '1',
      WEBHOOKS_REQUEST_TIMEOUT_MS: '5000',
      WEBHOOKS_SECRET_OVERLAP_MS: '0',
    });
    oldReceiver = await TestReceiver.start();
    newReceiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await oldReceiver.close();
    await newReceiver.close();
  });

  const admin = () => sidecar.admin(TENANT);

  /**
   * A webhook at the old receiver, with its deliveries going out and more queued. Answered in
   * 100 ms, a queued delivery starts within a second of its claim, from what its claim read: only
   * this process's own change can stop it. Answered in 400 ms, it waits longer than REFRESH_MS
   * and goes out from a fresh read of its webhook.
   */
  async function busyWebhook(answerDelayMs: number): Promise<string> {
    oldReceiver.answerDelayMs = answerDelayMs;
    const { webhook } = await admin().createWebhook({ url: oldReceiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    await sidecar.ingest.publishEvents({ events: Array.from({ length: EVENTS }, (_, i) => login(`evt-${i}`)) });
    await oldReceiver.waitForRequests(3);
    return webhook!.id;
  }

  async function deliveriesOf(webhookId: string): Promise<Delivery[]> {
    return (await admin().listDeliveries(ListDeliveriesRequest.fromPartial({ webhookId, pageSize: 100 }))).deliveries;
  }

  async function allIn(webhookId: string, want: (d: Delivery) => boolean, what: string): Promise<Delivery[]> {
    let seen: Delivery[] = [];
    await waitUntil(async () => {
      seen = await deliveriesOf(webhookId);
      return seen.length === EVENTS && seen.every(want);
    }, what, 20_000);
    return seen;
  }

  const oldRequestsAfter = (at: number) => oldReceiver.requests.filter((r) => r.at > at).length;

  /** Every delivery is paused or sent, and none is held by the worker any more. */
  async function settledWhileDisabled(webhookId: string): Promise<void> {
    await allIn(webhookId, (d) => d.status === SUCCEEDED || d.status === PAUSED, 'every delivery to be sent or paused');
    const claimed = async () => ((await sidecar.app.db('deliveries').where({ webhook_id: webhookId }).whereNotNull('claim_id').pluck('id')) as string[]).length;
    await waitUntil(async () => (await claimed()) === 0, 'the worker to let go of every delivery', 20_000);
  }

  it('sends nothing more to the old URL once UpdateWebhook has returned', async () => {
    const id = await busyWebhook(100);
    await admin().updateWebhook(UpdateWebhookRequest.fromPartial({ webhook: { id, url: newReceiver.url }, updateMask: ['url'] }));
    const returnedAt = Date.now();
    await allIn(id, (d) => d.status === SUCCEEDED, 'every delivery to succeed');
    expect(oldRequestsAfter(returnedAt), 'requests reaching the old URL after the update').to.be.at.most(1);
    expect(oldReceiver.requests.length + newReceiver.requests.length).to.equal(EVENTS);
  });

  it('sends nothing more to the old URL REFRESH_MS after another replica changed it', async () => {
    const id = await busyWebhook(400);
    await new WebhookStore(sidecar.app.db).update(TENANT, id, { url: newReceiver.url }, { now: Date.now(), discardPaused: false });
    const changedAt = Date.now();
    await allIn(id, (d) => d.status === SUCCEEDED, 'every delivery to succeed');
    expect(oldRequestsAfter(changedAt + REFRESH_MS), 'requests reaching the old URL after the refresh interval').to.be.at.most(1);
    expect(newReceiver.requests.length, 'requests reaching the new URL').to.be.greaterThan(0);
  });

  it('signs nothing more with the old secret once RotateWebhookSecret has returned', async () => {
    const id = await busyWebhook(100);
    const { secret } = await admin().rotateWebhookSecret({ id });
    const returnedAt = Date.now();
    await allIn(id, (d) => d.status === SUCCEEDED, 'every delivery to succeed');
    const after = oldReceiver.requests.filter((r) => r.at > returnedAt);
    expect(after.length, 'requests after the rotation').to.be.greaterThan(1);
    expect(after.filter((r) => !signedWith(secret, r)).length, 'requests not signed with the new secret').to.be.at.most(1);
  });

  it('sends nothing more to a webhook once it is disabled, and its queued deliveries go out at once when it is enabled', async () => {
    const id = await busyWebhook(100);
    const setEnabled = (enabled: boolean) =>
      admin().updateWebhook(UpdateWebhookRequest.fromPartial({ webhook: { id, enabled }, updateMask: ['enabled'] }));
    await setEnabled(false);
    const returnedAt = Date.now();
    await settledWhileDisabled(id);
    const sent = oldReceiver.requests.length;
    expect(oldRequestsAfter(returnedAt), 'requests reaching the disabled webhook').to.be.at.most(1);
    expect(sent).to.be.lessThan(EVENTS);

    // The worker gave up its claims on them: enabling sends them now, not when the leases
    // (2 × 5 s + 1 s) would have ended.
    oldReceiver.answerDelayMs = 0;
    await setEnabled(true);
    const enabledAt = Date.now();
    await allIn(id, (d) => d.status === SUCCEEDED, 'every delivery to succeed');
    expect(Date.now() - enabledAt).to.be.below(5_000);
    expect(oldReceiver.requests.length).to.equal(EVENTS);
  });

  it('sends nothing more to a webhook once an attempt got it disabled with 410 Gone', async () => {
    // The POST that takes the 410's slot starts before the 410 is recorded; answering it in
    // 300 ms gives that write time to end before the next would start, from a view under 1 s old.
    oldReceiver.respondWith((_req, index) => {
      if (index === 4) oldReceiver.answerDelayMs = 300;
      return { status: index === 3 ? 410 : 200 };
    });
    const id = await busyWebhook(100);
    await settledWhileDisabled(id);
    const gone = oldReceiver.requests[3]!;
    expect(oldRequestsAfter(gone.at), 'requests after the 410').to.be.at.most(1);
    expect((await admin().getWebhook({ id })).webhook).to.include({ enabled: false });
  });

  it('sends nothing more to a webhook REFRESH_MS after another replica disabled it', async () => {
    const id = await busyWebhook(400);
    await new WebhookStore(sidecar.app.db).update(TENANT, id, { enabled: false }, { now: Date.now(), discardPaused: false });
    const changedAt = Date.now();
    await settledWhileDisabled(id);
    expect(oldRequestsAfter(changedAt + REFRESH_MS), 'requests reaching the disabled webhook after the refresh interval').to.be.at.most(1);
    expect(oldReceiver.requests.length).to.be.lessThan(EVENTS);
  });
});
