/**
 * Secret rotation and endpoint pausing, on each database with real receivers: during the overlap
 * window both secrets sign (two v1 signatures, each verifying with standardwebhooks), after it only
 * the new one; a second rotation keeps the first one's previous secret signing (more in
 * previous-secrets.test.ts), and concurrent rotations take turns; a disabled
 * webhook keeps its events as paused deliveries, which go out when it is enabled again or end
 * failed when the admin discards them; a failure streak disables a webhook, and enabling it
 * again starts a new streak.
 */
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import {
  DeliveryStatus,
  ListDeliveriesRequest,
  UpdateWebhookRequest,
  type Delivery,
} from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { TestReceiver, type ReceivedRequest } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';
const { DELIVERY_STATUS_SUCCEEDED: SUCCEEDED, DELIVERY_STATUS_FAILED: FAILED, DELIVERY_STATUS_PAUSED: PAUSED } =
  DeliveryStatus;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

function verify(secret: string, req: ReceivedRequest): unknown {
  return new StandardWebhook(secret).verify(req.body, {
    'webhook-id': req.headers['webhook-id'] as string,
    'webhook-timestamp': req.headers['webhook-timestamp'] as string,
    'webhook-signature': req.headers['webhook-signature'] as string,
  });
}

const signaturesOf = (req: ReceivedRequest): string[] => (req.headers['webhook-signature'] as string).split(' ');
const eventIdOf = (req: ReceivedRequest): string => (JSON.parse(req.body) as { id: string }).id;

forEachDatabase('secret rotation and pausing', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver;

  async function start(env: Record<string, string> = {}): Promise<void> {
    sidecar = await startSidecar(await database.create(), env);
  }

  beforeEach(async () => {
    receiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver.close();
  });

  const admin = () => sidecar!.admin(TENANT);
  const createHook = () => admin().createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
  const publish = (...ids: string[]) => sidecar!.ingest.publishEvents({ events: ids.map(login) });
  const stats = async (webhookId: string) => (await admin().getWebhookStats({ webhookId, window: undefined })).stats!;

  async function deliveriesOf(webhookId: string): Promise<Delivery[]> {
    return (await admin().listDeliveries(ListDeliveriesRequest.fromPartial({ webhookId, pageSize: 100 }))).deliveries;
  }

  async function setEnabled(webhookId: string, enabled: boolean, discardPausedDeliveries = false) {
    const req = UpdateWebhookRequest.fromPartial({ webhook: { id: webhookId, enabled }, updateMask: ['enabled'], discardPausedDeliveries });
    return (await admin().updateWebhook(req)).webhook!;
  }

  async function allSettled(webhookId: string, want: DeliveryStatus, count: number): Promise<Delivery[]> {
    let seen: Delivery[] = [];
    await waitUntil(async () => {
      seen = await deliveriesOf(webhookId);
      return seen.length === count && seen.every((d) => d.status === want);
    }, `${count} deliveries of ${webhookId} to be ${DeliveryStatus[want]}`);
    return seen;
  }

  /** The delivery of one new event, waited on until it is done; returns its POST. */
  async function deliverOne(webhookId: string, eventId: string): Promise<ReceivedRequest> {
    await publish(eventId);
    await waitUntil(async () => {
      const d = (await deliveriesOf(webhookId)).find((x) => x.eventId === eventId);
      return d?.status === SUCCEEDED;
    }, `the delivery of ${eventId}`);
    const posts = receiver.requests.filter((r) => eventIdOf(r) === eventId);
    expect(posts).to.have.length(1);
    return posts[0]!;
  }

  it('signs with both secrets during the overlap window, and with the new one only after it', async () => {
    await start({ WEBHOOKS_SECRET_OVERLAP_MS: '1500' });
    const { webhook, secret: oldSecret } = await createHook();
    const before = await deliverOne(webhook!.id, 'evt-before');
    expect(signaturesOf(before)).to.have.length(1);
    verify(oldSecret, before);

    const rotatedAt = Date.now();
    const { secret: newSecret, previousSecretExpireTime } = await admin().rotateWebhookSecret({ id: webhook!.id });
    expect(newSecret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/).and.not.equal(oldSecret);
    const expiresAt = previousSecretExpireTime!.getTime();
    expect(expiresAt).to.be.within(rotatedAt + 1500, Date.now() + 1500);

    const during = await deliverOne(webhook!.id, 'evt-during');
    expect(during.at, 'the overlap POST must arrive inside the window').to.be.below(expiresAt);
    expect(signaturesOf(during)).to.have.length(2);
    signaturesOf(during).forEach((s) => expect(s).to.match(/^v1,[A-Za-z0-9+/]{43}=$/));
    expect(verify(oldSecret, during)).to.include({ id: 'evt-during' });
    expect(verify(newSecret, during)).to.include({ id: 'evt-during' });

    await waitUntil(() => Date.now() > expiresAt, 'the overlap window to pass', 5_000);
    const after = await deliverOne(webhook!.id, 'evt-after');
    expect(signaturesOf(after)).to.have.length(1);
    expect(verify(newSecret, after)).to.include({ id: 'evt-after' });
    expect(() => verify(oldSecret, after)).to.throw();
  });

  it('with an overlap of 0 only the new secret signs right after the rotation', async () => {
    await start({ WEBHOOKS_SECRET_OVERLAP_MS: '0' });
    const { webhook, secret: oldSecret } = await createHook();
    const { secret: newSecret, previousSecretExpireTime } = await admin().rotateWebhookSecret({ id: webhook!.id });
    expect(newSecret).to.match(/^whsec_/).and.not.equal(oldSecret);
    expect(previousSecretExpireTime).to.equal(undefined);

    const post = await deliverOne(webhook!.id, 'evt-1');
    expect(signaturesOf(post)).to.have.length(1);
    verify(newSecret, post);
    expect(() => verify(oldSecret, post)).to.throw();
  });

  it('a second rotation inside the overlap window keeps the original signing, and its response dates the one it replaced', async () => {
    await start({ WEBHOOKS_SECRET_OVERLAP_MS: '60000' });
    const { webhook, secret: original } = await createHook();
    const first = await admin().rotateWebhookSecret({ id: webhook!.id });
    const secondAt = Date.now();
    const second = await admin().rotateWebhookSecret({ id: webhook!.id });
    expect(second.previousSecretExpireTime!.getTime()).to.be.within(secondAt + 60_000, Date.now() + 60_000);

    const post = await deliverOne(webhook!.id, 'evt-after-second-rotation');
    expect(signaturesOf(post)).to.have.length(3);
    expect(verify(second.secret, post)).to.include({ id: 'evt-after-second-rotation' });
    expect(verify(first.secret, post), 'the secret the second rotation replaced').to.include({ id: 'evt-after-second-rotation' });
    expect(verify(original, post), 'the original, still inside the window the first rotation promised').to.include({ id: 'evt-after-second-rotation' });
  });

  it('concurrent rotations take turns: every secret they handed out signs afterwards', async () => {
    await start();
    const { webhook, secret: original } = await createHook();
    const rotations = await Promise.all([1, 2, 3, 4, 5].map(() => admin().rotateWebhookSecret({ id: webhook!.id })));
    const handedOut = rotations.map((r) => r.secret);
    expect(new Set(handedOut).size).to.equal(5);

    // Taking turns, each rotation's previous secret is the one the rotation before it handed out.
    // Racing, several rotations read the original, and the secrets they handed out never signed.
    const post = await deliverOne(webhook!.id, 'evt-after-rotations');
    expect(signaturesOf(post)).to.have.length(6);
    const signing = handedOut.filter((secret) => {
      try {
        verify(secret, post);
        return true;
      } catch {
        return false;
      }
    });
    expect(verify(original, post), 'the original, in its window').to.include({ id: 'evt-after-rotations' });
    expect(signing, 'the current secret and the four it replaced, all handed out by a rotation').to.have.length(5);
  });

  it('keeps events of a disabled webhook as paused deliveries and sends them all when it is enabled again', async () => {
    await start();
    const { webhook } = await createHook();
    const disabled = await setEnabled(webhook!.id, false);
    expect(disabled).to.include({ enabled: false });

    const published = await publish('evt-1', 'evt-2', 'evt-3');
    expect(published.results.map((r) => r.deliveryCount)).to.deep.equal([1, 1, 1]);
    const paused = await deliveriesOf(webhook!.id);
    expect(paused.map((d) => [d.status, d.attemptCount])).to.deep.equal([[PAUSED, 0], [PAUSED, 0], [PAUSED, 0]]);
    expect(await stats(webhook!.id)).to.include({ deliveriesPaused: 3, deliveriesPending: 0, attempts: 0 });
    expect(receiver.requests).to.have.length(0);

    expect(await setEnabled(webhook!.id, true)).to.include({ enabled: true, disabledReason: '' });
    const sent = await allSettled(webhook!.id, SUCCEEDED, 3);
    expect(sent.map((d) => d.attemptCount)).to.deep.equal([1, 1, 1]);
    expect(receiver.requests.map(eventIdOf).sort()).to.deep.equal(['evt-1', 'evt-2', 'evt-3']);
    expect(receiver.requests.map((r) => r.headers['webhook-id']).sort()).to.deep.equal(paused.map((d) => d.id).sort());
    expect(await stats(webhook!.id)).to.include({ deliveriesPaused: 0, deliveriesSucceeded: 3, attempts: 3 });
  });

  it('sends a delivery once when its webhook is disabled and enabled again while its attempt is in flight', async () => {
    await start({ WEBHOOKS_REQUEST_TIMEOUT_MS: '5000' });
    receiver.answerDelayMs = 1_500; // the attempt is still under way when the webhook is enabled again
    const { webhook } = await createHook();
    await publish('evt-1');
    await receiver.waitForRequests(1);
    await setEnabled(webhook!.id, false);
    await setEnabled(webhook!.id, true);

    const [delivery] = await allSettled(webhook!.id, SUCCEEDED, 1);
    // Resuming kept the lease of the attempt in flight: no second worker took the delivery, and
    // the first attempt's write was not fenced out.
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).to.deep.equal([delivery!.id]);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 200 });
    const { attempts } = await admin().getDelivery({ id: delivery!.id });
    expect(attempts.map((a) => [a.attemptNumber, a.statusCode])).to.deep.equal([[1, 200]]);
    expect(await stats(webhook!.id)).to.include({ deliveriesSucceeded: 1, deliveriesPending: 0, attempts: 1 });
  });

  it('does not discard a delivery whose attempt is in flight: its attempt settles it', async () => {
    await start({ WEBHOOKS_REQUEST_TIMEOUT_MS: '5000' });
    receiver.answerDelayMs = 1_500;
    const { webhook } = await createHook();
    await publish('evt-1');
    await receiver.waitForRequests(1);
    await setEnabled(webhook!.id, false);
    await setEnabled(webhook!.id, true, true);

    const [delivery] = await allSettled(webhook!.id, SUCCEEDED, 1);
    expect(delivery).to.include({ attemptCount: 1, lastStatusCode: 200, lastError: '' });
    const { attempts } = await admin().getDelivery({ id: delivery!.id });
    expect(attempts.map((a) => [a.attemptNumber, a.statusCode])).to.deep.equal([[1, 200]]);
    expect(receiver.requests).to.have.length(1);
    expect(await stats(webhook!.id)).to.include({ deliveriesSucceeded: 1, deliveriesFailed: 0, attempts: 1 });
  });

  it('discards paused deliveries as failed, never sent, when enabled with discard_paused_deliveries', async () => {
    await start();
    const { webhook } = await createHook();
    await setEnabled(webhook!.id, false);
    await publish('evt-1', 'evt-2');
    await allSettled(webhook!.id, PAUSED, 2);

    await setEnabled(webhook!.id, true, true);
    const discarded = await deliveriesOf(webhook!.id);
    expect(discarded).to.have.length(2);
    for (const d of discarded) {
      expect(d).to.include({ status: FAILED, attemptCount: 0 });
      expect(d.lastError).to.match(/discarded/);
      expect(d.completeTime).to.be.instanceOf(Date);
    }
    expect(await stats(webhook!.id)).to.include({ deliveriesFailed: 2, deliveriesPaused: 0, attempts: 0 });

    // A later event goes out: the worker is running, and it sent nothing of the discarded ones.
    await deliverOne(webhook!.id, 'evt-3');
    expect(receiver.requests.map(eventIdOf)).to.deep.equal(['evt-3']);
  });

  it('disables a webhook after a streak of failures, pauses its later events, and enabling it starts a new streak', async () => {
    await start({ WEBHOOKS_DISABLE_AFTER_FAILURES: '3', WEBHOOKS_DISABLE_AFTER_MS: '0', WEBHOOKS_MAX_RETRIES: '0' });
    receiver.respondWith(() => ({ status: 500, body: 'down' }));
    const { webhook } = await createHook();
    const id = webhook!.id;

    await publish('evt-1');
    await allSettled(id, FAILED, 1);
    await publish('evt-2');
    await allSettled(id, FAILED, 2);
    expect((await admin().getWebhook({ id })).webhook).to.include({ enabled: true });
    await publish('evt-3');
    await waitUntil(async () => !(await admin().getWebhook({ id })).webhook!.enabled, 'the webhook to be disabled');
    const { webhook: dead } = await admin().getWebhook({ id });
    expect(dead!.disabledReason).to.match(/3 consecutive/);
    await allSettled(id, FAILED, 3);
    const failing = await stats(id);
    expect(failing).to.include({ consecutiveFailures: 3, deliveriesFailed: 3, attempts: 3 });
    expect(failing.failingSince).to.be.instanceOf(Date);

    await publish('evt-4');
    const evt4 = (await deliveriesOf(id)).find((d) => d.eventId === 'evt-4');
    expect(evt4).to.include({ status: PAUSED, attemptCount: 0 });
    expect(receiver.requests).to.have.length(3);

    await setEnabled(id, true, true);
    const fresh = await stats(id);
    expect(fresh).to.include({ consecutiveFailures: 0, deliveriesPaused: 0 });
    expect(fresh.failingSince).to.equal(undefined);

    // One more failure counts from zero: 1 is below the threshold, so the webhook stays enabled
    // (had the streak not been reset it would be the 4th and disable the webhook again).
    await publish('evt-5');
    await waitUntil(async () => (await stats(id)).attempts === 4, 'the 4th attempt to be recorded');
    expect(await stats(id)).to.include({ consecutiveFailures: 1 });
    expect((await admin().getWebhook({ id })).webhook).to.include({ enabled: true, disabledReason: '' });
  });
});
