/**
 * Several previous secrets, on each database with real receivers: every secret a rotation
 * replaces keeps signing until its own overlap window ends, as that rotation's response said,
 * even when later rotations come inside the window; an ended window stops only its own secret,
 * and the next rotation prunes it from the row; at most MAX_PREVIOUS_SECRETS are kept, the
 * oldest dropped first. A previous secret stored before the older_secrets migration keeps its
 * window after it.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect } from '../../src/db/connect';
import { DeliveryStatus, ListDeliveriesRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { MAX_PREVIOUS_SECRETS } from '../../src/security/previous-secrets';
import { forEachDatabase } from '../support/databases';
import { rollBackThrough } from '../support/migrations';
import { TestReceiver, type ReceivedRequest } from '../support/receiver';
import { signedWith } from '../support/signatures';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-previous';
const OLDER_SECRETS = '20261204120000_older_secrets.js';


const signaturesOf = (req: ReceivedRequest): string[] => (req.headers['webhook-signature'] as string).split(' ');
const eventIdOf = (req: ReceivedRequest): string => (JSON.parse(req.body) as { id: string }).id;

forEachDatabase('previous signing secrets', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver;

  beforeEach(async () => (receiver = await TestReceiver.start()));
  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver.close();
  });

  const admin = () => sidecar!.admin(TENANT);
  const rotate = (id: string) => admin().rotateWebhookSecret({ id });

  let hookDbUrl: string | undefined;

  // One key for every start, so a restarted sidecar opens what the first one sealed.
  const encryptionKey = randomBytes(32).toString('base64');
  const env = (overlapMs: number) => ({ WEBHOOKS_SECRET_OVERLAP_MS: String(overlapMs), WEBHOOKS_ENCRYPTION_KEY: encryptionKey });

  async function createHook(overlapMs: number): Promise<{ id: string; secret: string }> {
    hookDbUrl = await database.create();
    sidecar = await startSidecar(hookDbUrl, env(overlapMs));
    const { webhook, secret } = await admin().createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    return { id: webhook!.id, secret };
  }

  /** The POST of one new event, once its delivery succeeded. */
  async function deliverOne(webhookId: string, eventId: string): Promise<ReceivedRequest> {
    await sidecar!.ingest.publishEvent({ event: { id: eventId, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    await waitUntil(async () => {
      const { deliveries } = await admin().listDeliveries(ListDeliveriesRequest.fromPartial({ webhookId, pageSize: 100 }));
      return deliveries.find((d) => d.eventId === eventId)?.status === DeliveryStatus.DELIVERY_STATUS_SUCCEEDED;
    }, `the delivery of ${eventId}`);
    const posts = receiver.requests.filter((r) => eventIdOf(r) === eventId);
    expect(posts).to.have.length(1);
    return posts[0]!;
  }

  it('two rotations inside the window: three signatures; the original stops at the end of its own window, the first keeps signing', async () => {
    // Windows far apart, so a slow delivery (a loaded machine, MySQL) still lands between them.
    const overlap = 8_000;
    const { id, secret: original } = await createHook(overlap);
    const firstAt = Date.now();
    const first = await rotate(id);
    const originalEnds = first.previousSecretExpireTime!.getTime();
    expect(originalEnds).to.be.within(firstAt + overlap, Date.now() + overlap);
    // From the time the rotation reported, not from when it was asked for: a slow first rotation
    // would otherwise leave the windows less than half an overlap apart.
    await waitUntil(() => Date.now() > originalEnds - overlap / 2, 'half the window to pass', overlap);
    const second = await rotate(id);
    const firstEnds = second.previousSecretExpireTime!.getTime();
    expect(firstEnds - originalEnds, 'each window counts from its own rotation').to.be.at.least(overlap / 2);

    const both = await deliverOne(id, 'evt-both');
    expect(both.at, 'sent inside both windows').to.be.below(originalEnds);
    expect(signaturesOf(both)).to.have.length(3);
    for (const secret of [second.secret, first.secret, original]) expect(signedWith(secret, both)).to.equal(true);

    // The original is now the older of two previous secrets: its end leaves the newer one signing.
    await waitUntil(() => Date.now() > originalEnds, "the original secret's window to end", overlap);
    const one = await deliverOne(id, 'evt-one-window');
    expect(one.at, "sent inside the first secret's window").to.be.below(firstEnds);
    expect(signaturesOf(one)).to.have.length(2);
    expect(signedWith(second.secret, one) && signedWith(first.secret, one)).to.equal(true);
    expect(signedWith(original, one), 'the original, its window over').to.equal(false);
  });

  it('the next rotation prunes previous secrets whose windows ended', async () => {
    // Long enough that the second rotation comes inside the first one's window on a loaded machine.
    const overlap = 3_000;
    const { id } = await createHook(overlap);
    await rotate(id);
    const last = await rotate(id);
    const row = () => sidecar!.app.db('webhooks').where({ id }).first('previous_secret_sealed', 'older_secrets_sealed');
    expect((await row()).older_secrets_sealed, 'the original, still in its window').to.match(/^\[\{"sealed":"v1\./);
    await waitUntil(() => Date.now() > last.previousSecretExpireTime!.getTime(), 'every window to end', 3 * overlap);
    const third = await rotate(id);
    expect(await row()).to.include({ older_secrets_sealed: null });
    const post = await deliverOne(id, 'evt-after-prune');
    expect(signaturesOf(post)).to.have.length(2);
    expect(signedWith(third.secret, post) && signedWith(last.secret, post)).to.equal(true);
  });

  it(`keeps at most ${MAX_PREVIOUS_SECRETS} previous secrets: a sixth rotation in the window drops the oldest`, async () => {
    const { id, secret: original } = await createHook(60_000);
    const handedOut = [original];
    for (let i = 0; i <= MAX_PREVIOUS_SECRETS; i += 1) handedOut.push((await rotate(id)).secret);

    const post = await deliverOne(id, 'evt-capped');
    expect(signaturesOf(post)).to.have.length(MAX_PREVIOUS_SECRETS + 1);
    expect(signedWith(original, post), 'the oldest, dropped').to.equal(false);
    for (const secret of handedOut.slice(1)) expect(signedWith(secret, post)).to.equal(true);
  });

  it('a previous secret stored before the older_secrets migration keeps signing after it, beside a later one', async () => {
    const { id, secret: original } = await createHook(60_000);
    const first = await rotate(id);
    await sidecar!.stop();
    sidecar = undefined;
    // The schema as the version before this migration had it, with that rotation's row in it.
    const db = connect(parseDbUrl(hookDbUrl!));
    try {
      expect(await rollBackThrough(db, OLDER_SECRETS)).to.include(OLDER_SECRETS);
      expect(await db.schema.hasColumn('webhooks', 'older_secrets_sealed')).to.equal(false);
    } finally {
      await db.destroy();
    }
    sidecar = await startSidecar(hookDbUrl!, env(60_000));
    const second = await rotate(id);
    const post = await deliverOne(id, 'evt-after-upgrade');
    expect(signaturesOf(post)).to.have.length(3);
    for (const secret of [second.secret, first.secret, original]) expect(signedWith(secret, post)).to.equal(true);
  });
});
