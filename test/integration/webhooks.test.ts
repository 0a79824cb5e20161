/**
 * Webhook management on each database: create (with its secret, returned once and never stored in
 * clear), read, paged lists, field-mask updates, delete (with its pending deliveries), and the
 * event catalog.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '../../src/db/connect';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import type { Webhook } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';
const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
const CATALOG = [
  ...['created', 'login', 'login_failed', 'logout', 'password_changed', 'email_changed', 'profile_updated', 'deleted'].map((t) => `user.${t}`),
  ...['enabled', 'disabled', 'passkey_registered', 'challenge_failed'].map((t) => `mfa.${t}`),
  ...['breach_attempt_detected', 'account_locked', 'suspicious_login', 'password_breach_detected'].map((t) => `security.${t}`),
  ...['authentication_completed', 'provider_linked', 'provider_unlinked'].map((t) => `sso.${t}`),
  ...['user_added', 'user_removed', 'role_changed'].map((t) => `organization.${t}`),
  ...['created', 'terminated', 'concurrent_limit_reached'].map((t) => `session.${t}`),
  ...['client_registered', 'token_issued', 'token_revoked'].map((t) => `oauth.${t}`),
];

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } };
}

forEachDatabase('webhook management', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;

  beforeEach(async () => {
    // Retries far away: a failed first attempt leaves its delivery pending for the whole test.
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_RETRY_BASE_MS: '600000' });
    receiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  const admin = () => sidecar.admin(TENANT);
  const create = (overrides: Partial<{ url: string; eventTypes: string[]; description: string; organizationIds: string[] }> = {}) =>
    admin().createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [], ...overrides });

  async function rows(table: string, where: Record<string, string | number> = {}): Promise<number> {
    const row = (await sidecar.app.db(table).where(where).count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  }

  it('creates a webhook and returns its whsec_ secret, which no read ever returns again', async () => {
    const before = Date.now();
    const { webhook, secret } = await create({ eventTypes: ['user.login', 'security.*'], description: 'SIEM feed', organizationIds: ['org-1'] });
    const after = Date.now();
    expect(webhook!.id).to.match(new RegExp(`^wh_${ULID}$`));
    expect(webhook).to.deep.include({
      tenantId: TENANT,
      url: receiver.url,
      eventTypes: ['user.login', 'security.*'],
      description: 'SIEM feed',
      enabled: true,
      disabledReason: '',
      organizationIds: ['org-1'],
    });
    expect(webhook!.createTime!.getTime()).to.be.within(before, after);
    expect(webhook!.updateTime!.getTime()).to.equal(webhook!.createTime!.getTime());
    expect(secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).to.have.length(32);

    const other = await create();
    expect(other.secret).to.not.equal(secret);
    const responses = [
      await admin().getWebhook({ id: webhook!.id }),
      await admin().listWebhooks({ pageSize: 0, pageToken: '' }),
      await admin().updateWebhook({ webhook: { ...webhook!, description: 'renamed' }, updateMask: ['description'], discardPausedDeliveries: false }),
    ];
    expect(responses[0]!).to.deep.equal({ webhook: webhook });
    for (const response of responses) {
      const json = JSON.stringify(response);
      expect(json).to.include(webhook!.id);
      expect(json).to.not.include(secret);
      expect(json).to.not.include(secret.slice('whsec_'.length));
      expect(json).to.not.include('whsec_');
    }
  });

  it('never stores a signing secret in clear', async () => {
    const secrets = [(await create()).secret, (await create({ eventTypes: ['*'] })).secret];
    const tokens = secrets.flatMap((secret) => {
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      return [secret, secret.slice('whsec_'.length), key.toString('base64url'), key.toString('hex')];
    });
    const stored = (await sidecar.app.db('webhooks').select('*')) as Array<Record<string, unknown>>;
    expect(stored).to.have.length(2);
    for (const row of stored) {
      for (const [column, value] of Object.entries(row)) {
        const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
        for (const token of tokens) expect(text, `webhooks.${column}`).to.not.include(token);
        expect(text, `webhooks.${column}`).to.not.include('whsec_');
      }
    }
  });

  it('pages ListWebhooks in creation order without overlaps', async () => {
    const created: string[] = [];
    for (let i = 0; i < 25; i += 1) created.push((await create({ description: `hook ${i}` })).webhook!.id);
    await sidecar.admin('tenant-b').createWebhook({ url: receiver.url, eventTypes: ['*'], description: '', organizationIds: [] });

    const pages: Webhook[][] = [];
    const tokens: string[] = [];
    let pageToken = '';
    do {
      const page = await admin().listWebhooks({ pageSize: 10, pageToken });
      pages.push(page.webhooks);
      tokens.push(page.nextPageToken);
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && pages.length < 5);

    expect(pages.map((p) => p.length)).to.deep.equal([10, 10, 5]);
    expect(tokens[0]).to.not.equal('');
    expect(tokens[1]).to.not.equal('');
    expect(tokens[2]).to.equal('');
    expect(pages.flat().map((w) => w.id)).to.deep.equal(created);
    expect(pages.flat().map((w) => w.description)).to.deep.equal(created.map((_, i) => `hook ${i}`));
    expect(pages.flat().every((w) => w.tenantId === TENANT)).to.equal(true);
  });

  it('updates only the fields named by the mask and moves updateTime forward', async () => {
    const other = await TestReceiver.start();
    try {
      const { webhook: original } = await create({ description: 'first' });
      const createdAt = original!.createTime!.getTime();
      await waitUntil(() => Date.now() > createdAt, 'the clock to pass the creation time');

      const changed = { ...original!, url: other.url, description: 'second', eventTypes: ['*'], enabled: false };
      const { webhook: described } = await admin().updateWebhook({ webhook: changed, updateMask: ['description'], discardPausedDeliveries: false });
      expect(described).to.deep.include({ url: receiver.url, description: 'second', eventTypes: ['user.login'], enabled: true });
      expect(described!.createTime!.getTime()).to.equal(createdAt);
      expect(described!.updateTime!.getTime()).to.be.above(createdAt);
      expect((await admin().getWebhook({ id: original!.id })).webhook).to.deep.equal(described);

      const { webhook: moved } = await admin().updateWebhook({ webhook: changed, updateMask: ['url', 'event_types'], discardPausedDeliveries: false });
      expect(moved).to.deep.include({ url: other.url, description: 'second', eventTypes: ['*'], enabled: true });
      expect(moved!.updateTime!.getTime()).to.be.at.least(described!.updateTime!.getTime());

      for (const [mask, field] of [
        [[], 'update_mask'],
        [['secret'], 'update_mask'],
        [['id'], 'update_mask'],
      ] as const) {
        const err = await rejectionOf(admin().updateWebhook({ webhook: changed, updateMask: [...mask], discardPausedDeliveries: false }));
        expect(err.code, mask.join()).to.equal(status.INVALID_ARGUMENT);
        expect(err.details).to.include(field);
      }
      const badUrl = await rejectionOf(admin().updateWebhook({ webhook: { ...changed, url: 'ftp://example.com/x' }, updateMask: ['url'], discardPausedDeliveries: false }));
      expect(badUrl.code).to.equal(status.INVALID_ARGUMENT);
      expect(badUrl.details).to.include('webhook.url');
      expect((await admin().getWebhook({ id: original!.id })).webhook).to.deep.equal(moved);

      // The update governs routing: a user.logout now goes to the new URL, and only there.
      const logout = { ...login('evt-logout'), type: 'user.logout' };
      expect((await sidecar.ingest.publishEvent({ event: logout })).result!.deliveryCount).to.equal(1);
      await other.waitForRequests(1);
      await waitUntil(async () => (await rows('deliveries', { status: 'succeeded' })) === 1, 'the delivery to succeed');
      expect(JSON.parse(other.requests[0]!.body)).to.include({ id: 'evt-logout' });
      expect(receiver.requests).to.have.length(0);
    } finally {
      await other.close();
    }
  });

  it('deletes a webhook with its pending deliveries, and keeps accepting events', async () => {
    receiver.respondWith(() => ({ status: 500, body: 'down' }));
    const { webhook: doomed } = await create();
    const { webhook: kept } = await create({ eventTypes: ['user.*'] });
    for (const id of ['evt-1', 'evt-2', 'evt-3']) {
      expect((await sidecar.ingest.publishEvent({ event: login(id) })).result!.deliveryCount).to.equal(2);
    }
    // Each delivery failed once and waits for a retry ten minutes away.
    await waitUntil(
      async () => (await rows('deliveries', { status: 'pending', attempt_count: 1 })) === 6,
      'six deliveries pending after one failed attempt',
    );
    const [doomedDelivery] = (await sidecar.app.db('deliveries').where({ webhook_id: doomed!.id }).pluck('id')) as string[];

    await admin().deleteWebhook({ id: doomed!.id });
    expect((await rejectionOf(admin().getWebhook({ id: doomed!.id }))).code).to.equal(status.NOT_FOUND);
    expect((await rejectionOf(admin().deleteWebhook({ id: doomed!.id }))).code).to.equal(status.NOT_FOUND);
    expect((await rejectionOf(admin().getDelivery({ id: doomedDelivery! }))).code).to.equal(status.NOT_FOUND);
    expect((await admin().listWebhooks({ pageSize: 0, pageToken: '' })).webhooks.map((w) => w.id)).to.deep.equal([kept!.id]);
    expect(await rows('webhooks', { id: doomed!.id })).to.equal(0);
    expect(await rows('deliveries', { webhook_id: doomed!.id })).to.equal(0);
    expect(await rows('delivery_attempts', { webhook_id: doomed!.id })).to.equal(0);
    expect(await rows('deliveries', { webhook_id: kept!.id, status: 'pending' })).to.equal(3);

    const { result } = await sidecar.ingest.publishEvent({ event: login('evt-4') });
    expect(result).to.include({ eventId: 'evt-4', duplicate: false, deliveryCount: 1 });
    expect(await rows('deliveries', { webhook_id: doomed!.id })).to.equal(0);
    expect(await rows('deliveries', { webhook_id: kept!.id })).to.equal(4);
  });

  it('leaves no attempt behind when the webhook is deleted during an attempt', async () => {
    const held = await holdingReceiver();
    try {
      const { webhook } = await create({ url: held.url });
      await sidecar.ingest.publishEvent({ event: login('evt-held') });
      await held.arrived;
      await admin().deleteWebhook({ id: webhook!.id });
      held.release();
      // Stopping waits for the attempt in flight to be recorded; then look with a connection of our own.
      await sidecar.stop();
      const db = connect(sidecar.config.db);
      try {
        const count = async (table: string) => Number(((await db(table).where({ webhook_id: webhook!.id }).count({ n: '*' }).first()) as { n: number | string }).n);
        expect(await count('deliveries'), 'deliveries').to.equal(0);
        expect(await count('delivery_attempts'), 'delivery_attempts').to.equal(0);
      } finally {
        await db.destroy();
      }
    } finally {
      await held.close();
    }
  });

  it('lists the 28 catalog types and webhook.test, each with its category and schema', async () => {
    const { eventTypes } = await admin().listEventTypes({});
    expect(eventTypes.map((t) => t.name).sort()).to.deep.equal([...CATALOG, 'webhook.test'].sort());
    for (const type of eventTypes) {
      expect(type.category, type.name).to.equal(type.name.split('.')[0]);
      expect(type.description, type.name).to.be.a('string').and.not.equal('');
      expect(type.schema, type.name).to.be.an('object');
      expect(type.schema!.type, type.name).to.equal('object');
    }
    const loginType = eventTypes.find((t) => t.name === 'user.login')!;
    expect(loginType.schema!.required).to.include('user_id');
    expect(loginType.schema!.properties).to.have.property('user_id');
    expect(new Set(eventTypes.map((t) => t.category))).to.deep.equal(
      new Set(['user', 'mfa', 'security', 'sso', 'organization', 'session', 'oauth', 'webhook']),
    );
  });
});

/** A receiver that holds its first request until released, to delete a webhook mid-attempt. */
async function holdingReceiver() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const server = http.createServer((req, res) => {
    req.resume();
    arrive();
    void released.then(() => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    arrived,
    release,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
