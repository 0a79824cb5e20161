/**
 * Sending again, on each database with real receivers: SendTestEvent (a webhook.test event to one
 * webhook only), RetryDelivery of a succeeded and of a failed delivery (same webhook-id, a new
 * attempt, a fresh timestamp and signature), RetryFailedDeliveries since a time, and the refusals:
 * another tenant's ids are NOT_FOUND, a disabled webhook is FAILED_PRECONDITION.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import {
  DeliveryStatus,
  ListDeliveriesRequest,
  UpdateWebhookRequest,
  type Delivery,
} from '../../src/grpc/generated/webhooks/v1/management';
import { TEST_EVENT_DATA } from '../../src/management/redelivery';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver, type ReceivedRequest } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';
const { DELIVERY_STATUS_SUCCEEDED: SUCCEEDED, DELIVERY_STATUS_FAILED: FAILED } = DeliveryStatus;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

/** Verifies with standardwebhooks (throws on a bad signature) and returns the parsed body. */
function verified(secret: string, req: ReceivedRequest): Record<string, unknown> {
  return new StandardWebhook(secret).verify(req.body, {
    'webhook-id': req.headers['webhook-id'] as string,
    'webhook-timestamp': req.headers['webhook-timestamp'] as string,
    'webhook-signature': req.headers['webhook-signature'] as string,
  }) as Record<string, unknown>;
}

const eventIdOf = (req: ReceivedRequest): string => (JSON.parse(req.body) as { id: string }).id;

forEachDatabase('redelivery and test events', (database) => {
  let sidecar: TestSidecar | undefined;
  const receivers: TestReceiver[] = [];

  async function start(env: Record<string, string> = {}): Promise<TestSidecar> {
    sidecar = await startSidecar(await database.create(), env);
    return sidecar;
  }

  async function receiver(): Promise<TestReceiver> {
    const r = await TestReceiver.start();
    receivers.push(r);
    return r;
  }

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  const admin = (tenant = TENANT) => sidecar!.admin(tenant);
  const createHook = (url: string, eventTypes = ['user.login']) =>
    admin().createWebhook({ url, eventTypes, description: '', organizationIds: [] });

  async function deliveriesOf(webhookId: string): Promise<Delivery[]> {
    const page = await admin().listDeliveries(ListDeliveriesRequest.fromPartial({ webhookId, pageSize: 100 }));
    return page.deliveries;
  }

  async function publishedTo(webhookId: string, eventId: string): Promise<Delivery> {
    await sidecar!.ingest.publishEvent({ event: login(eventId) });
    const delivery = (await deliveriesOf(webhookId)).find((d) => d.eventId === eventId);
    expect(delivery, `a delivery of ${eventId} to ${webhookId}`).to.not.equal(undefined);
    return delivery!;
  }

  async function settled(id: string, want: DeliveryStatus, attempts: number) {
    let last: Delivery | undefined;
    await waitUntil(async () => {
      last = (await admin().getDelivery({ id })).delivery;
      return last!.status === want && last!.attemptCount === attempts;
    }, `delivery ${id} to be ${DeliveryStatus[want]} after ${attempts} attempt(s) (last seen: ${JSON.stringify(last)})`);
    return admin().getDelivery({ id });
  }

  async function setEnabled(webhookId: string, enabled: boolean): Promise<void> {
    await admin().updateWebhook(
      UpdateWebhookRequest.fromPartial({ webhook: { id: webhookId, enabled }, updateMask: ['enabled'] }),
    );
  }

  it('SendTestEvent sends one signed webhook.test event to exactly that webhook, with the given data', async () => {
    await start();
    const [target, bystander] = [await receiver(), await receiver()];
    const { webhook, secret } = await createHook(target.url);
    const other = await createHook(bystander.url, ['*']);

    const { delivery } = await admin().sendTestEvent({ webhookId: webhook!.id, data: undefined });
    expect(delivery!.id).to.match(/^msg_/);
    expect(delivery).to.include({ webhookId: webhook!.id, eventType: 'webhook.test' });
    await settled(delivery!.id, SUCCEEDED, 1);
    const custom = { greeting: 'hello', count: 3, nested: { ok: true, list: ['a', 1] } };
    const second = await admin().sendTestEvent({ webhookId: webhook!.id, data: custom });
    await settled(second.delivery!.id, SUCCEEDED, 1);

    expect(target.requests).to.have.length(2);
    const [first, withData] = target.requests;
    expect(first!.headers['webhook-id']).to.equal(delivery!.id);
    const body = verified(secret, first!);
    expect(body).to.include({ type: 'webhook.test', tenant_id: TENANT, id: delivery!.eventId });
    expect(body.data).to.deep.equal(TEST_EVENT_DATA);
    expect(withData!.headers['webhook-id']).to.equal(second.delivery!.id);
    expect(verified(secret, withData!)).to.deep.include({ type: 'webhook.test', data: custom });

    // The tenant's catch-all webhook got no delivery row at all, so nothing can still reach it.
    expect(await deliveriesOf(other.webhook!.id)).to.have.length(0);
    expect(bystander.requests).to.have.length(0);
  });

  it('RetryDelivery of a succeeded delivery sends it again: same webhook-id, attempt 2, fresh timestamp and signature', async () => {
    await start();
    const target = await receiver();
    const { webhook, secret } = await createHook(target.url);
    const delivery = await publishedTo(webhook!.id, 'evt-1');
    await settled(delivery.id, SUCCEEDED, 1);
    const firstTs = Number(target.requests[0]!.headers['webhook-timestamp']);
    // Timestamps are whole seconds: let the clock pass into the next one so a fresh one can show.
    await waitUntil(() => Math.floor(Date.now() / 1000) > firstTs, 'the next second');

    const retried = await admin().retryDelivery({ id: delivery.id });
    expect(retried.delivery!.id).to.equal(delivery.id);
    const { delivery: after, attempts } = await settled(delivery.id, SUCCEEDED, 2);
    expect(after!.lastStatusCode).to.equal(200);
    expect(attempts.map((a) => [a.attemptNumber, a.statusCode])).to.deep.equal([[1, 200], [2, 200]]);

    expect(target.requests).to.have.length(2);
    const [first, again] = target.requests;
    expect(again!.headers['webhook-id']).to.equal(first!.headers['webhook-id']).and.equal(delivery.id);
    expect(Number(again!.headers['webhook-timestamp'])).to.be.greaterThan(firstTs);
    expect(again!.headers['webhook-signature']).to.not.equal(first!.headers['webhook-signature']);
    expect(again!.body).to.equal(first!.body);
    expect(verified(secret, again!)).to.include({ id: 'evt-1', type: 'user.login' });
  });

  it('RetryDelivery of a failed delivery sends it again and it ends succeeded', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const target = await receiver();
    target.respondWith(() => ({ status: 500, body: 'down' }));
    const { webhook, secret } = await createHook(target.url);
    const delivery = await publishedTo(webhook!.id, 'evt-1');
    const failed = await settled(delivery.id, FAILED, 1);
    expect(failed.delivery).to.include({ lastStatusCode: 500 });

    target.respondWith(() => ({ status: 200, body: 'ok' }));
    await admin().retryDelivery({ id: delivery.id });
    const { delivery: after, attempts } = await settled(delivery.id, SUCCEEDED, 2);
    expect(after).to.include({ lastStatusCode: 200, lastError: '' });
    expect(after!.completeTime).to.be.instanceOf(Date);
    expect(attempts.map((a) => a.statusCode)).to.deep.equal([500, 200]);
    expect(target.requests.map((r) => r.headers['webhook-id'])).to.deep.equal([delivery.id, delivery.id]);
    verified(secret, target.requests[1]!);
  });

  it('RetryFailedDeliveries resends exactly the failed deliveries of that webhook created since the time', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const [target, neighbour] = [await receiver(), await receiver()];
    const failing = new Set(['old', 'new-1', 'new-2', 'new-3']);
    target.respondWith((req) => (failing.has(eventIdOf(req)) ? { status: 500 } : { status: 200 }));
    neighbour.respondWith(() => ({ status: 500 }));
    const { webhook } = await createHook(target.url);
    const hookId = webhook!.id;
    const neighbourHook = (await createHook(neighbour.url, ['user.logout'])).webhook!.id;

    const old = await publishedTo(hookId, 'old');
    await settled(old.id, FAILED, 1);
    await waitUntil(() => Date.now() > old.createTime!.getTime(), 'the clock to pass the old delivery');
    const since = new Date();
    const fresh = [];
    for (const id of ['new-1', 'new-2', 'new-3', 'fine']) fresh.push(await publishedTo(hookId, id));
    await sidecar!.ingest.publishEvent({ event: { ...login('logout-1'), type: 'user.logout' } });
    const [neighbourDelivery] = await deliveriesOf(neighbourHook);
    for (const d of fresh.slice(0, 3)) await settled(d.id, FAILED, 1);
    await settled(fresh[3]!.id, SUCCEEDED, 1);
    await settled(neighbourDelivery!.id, FAILED, 1);
    expect(target.requests).to.have.length(5);

    failing.clear();
    neighbour.respondWith(() => ({ status: 200 }));
    const { deliveryCount } = await admin().retryFailedDeliveries({ webhookId: hookId, since });
    expect(deliveryCount).to.equal(3);
    for (const d of fresh.slice(0, 3)) await settled(d.id, SUCCEEDED, 2);

    // The retried rows went pending in one transaction; those left out were never due again.
    expect((await admin().getDelivery({ id: old.id })).delivery).to.include({ status: FAILED, attemptCount: 1 });
    expect((await admin().getDelivery({ id: fresh[3]!.id })).delivery).to.include({ status: SUCCEEDED, attemptCount: 1 });
    expect((await admin().getDelivery({ id: neighbourDelivery!.id })).delivery).to.include({ status: FAILED, attemptCount: 1 });
    expect(target.requests.slice(5).map(eventIdOf).sort()).to.deep.equal(['new-1', 'new-2', 'new-3']);
    expect(target.requests).to.have.length(8);
    expect(neighbour.requests).to.have.length(1);
  });

  it("another tenant's delivery and webhook ids are NOT_FOUND", async () => {
    await start();
    const target = await receiver();
    const { webhook } = await createHook(target.url);
    const delivery = await publishedTo(webhook!.id, 'evt-1');
    await settled(delivery.id, SUCCEEDED, 1);

    const stranger = admin('tenant-b');
    const errors = [
      await rejectionOf(stranger.retryDelivery({ id: delivery.id })),
      await rejectionOf(stranger.getDelivery({ id: delivery.id })),
      await rejectionOf(stranger.sendTestEvent({ webhookId: webhook!.id, data: undefined })),
      await rejectionOf(stranger.retryFailedDeliveries({ webhookId: webhook!.id, since: new Date(0) })),
      await rejectionOf(admin().retryDelivery({ id: 'msg_01ARZ3NDEKTSV4RRFFQ69G5FAV' })),
    ];
    expect(errors.map((e) => e.code)).to.deep.equal(errors.map(() => status.NOT_FOUND));
    expect((await admin().getDelivery({ id: delivery.id })).delivery).to.include({ status: SUCCEEDED, attemptCount: 1 });
    expect(target.requests).to.have.length(1);
  });

  // SQLite only, where it is deterministic: its one connection serves waiting queries in order,
  // so a delete queued while RetryDelivery's transaction runs lands before the reread after it.
  // (Not registered on MySQL at all, rather than shown there as a skipped test.)
  const onSqlite = database.name === 'sqlite' ? it : (): void => undefined;
  onSqlite('RetryDelivery whose delivery is deleted right after its write is NOT_FOUND, not INTERNAL', async () => {
    await start();
    const target = await receiver();
    const { webhook } = await createHook(target.url);
    const delivery = await publishedTo(webhook!.id, 'evt-1');
    await settled(delivery.id, SUCCEEDED, 1);

    const db = sidecar!.app.db;
    let deleted: Promise<unknown> | undefined;
    const deleteOnRetry = (_response: unknown, query: { sql: string }) => {
      if (deleted !== undefined || !/^update `deliveries` set `status` = \?/.test(query.sql)) return;
      deleted = db('deliveries').where({ id: delivery.id }).delete().then(() => undefined);
    };
    db.on('query-response', deleteOnRetry);
    try {
      const err = await rejectionOf(admin().retryDelivery({ id: delivery.id }));
      expect(deleted, 'the delete was queued during the retry').to.not.equal(undefined);
      expect(err.code, err.details).to.equal(status.NOT_FOUND);
    } finally {
      db.off('query-response', deleteOnRetry);
      await deleted;
    }
  });

  it('RetryDelivery, RetryFailedDeliveries and SendTestEvent on a disabled webhook are FAILED_PRECONDITION', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const target = await receiver();
    target.respondWith(() => ({ status: 500 }));
    const { webhook } = await createHook(target.url);
    const delivery = await publishedTo(webhook!.id, 'evt-1');
    await settled(delivery.id, FAILED, 1);
    await setEnabled(webhook!.id, false);

    const errors = [
      await rejectionOf(admin().retryDelivery({ id: delivery.id })),
      await rejectionOf(admin().sendTestEvent({ webhookId: webhook!.id, data: undefined })),
      await rejectionOf(admin().retryFailedDeliveries({ webhookId: webhook!.id, since: new Date(0) })),
    ];
    expect(errors.map((e) => e.code)).to.deep.equal([9, 9, 9]);
    expect(errors[0]!.details).to.contain('disabled');
    // Nothing was queued: the failed delivery is untouched and no test delivery was created.
    expect(await deliveriesOf(webhook!.id)).to.have.length(1);
    expect((await admin().getDelivery({ id: delivery.id })).delivery).to.include({ status: FAILED, attemptCount: 1 });

    // Enabled again, the same calls work.
    target.respondWith(() => ({ status: 200 }));
    await setEnabled(webhook!.id, true);
    await admin().retryDelivery({ id: delivery.id });
    await settled(delivery.id, SUCCEEDED, 2);
    expect(target.requests).to.have.length(2);
  });
});
