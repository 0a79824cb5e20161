/**
 * One tenant sees and reaches nothing of another: every admin call naming another tenant's
 * webhook or delivery is NOT_FOUND (never PERMISSION_DENIED, which would confirm the id exists),
 * lists come back empty, and events only ever reach webhooks of their own tenant.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import type { ListDeliveriesRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const EVERY_DELIVERY: ListDeliveriesRequest = {
  webhookId: '',
  status: 0,
  startTime: undefined,
  endTime: undefined,
  pageSize: 0,
  pageToken: '',
};

function event(tenantId: string, id: string, type = 'user.login'): { event: Event } {
  const data: Record<string, unknown> = { user_id: `u-${id}` };
  if (type === 'mfa.enabled') data.method = 'totp';
  if (type === 'security.account_locked') data.severity = 'high';
  return { event: { id, tenantId, type, occurredAt: undefined, organizationId: '', data } };
}

forEachDatabase('tenant isolation', (database) => {
  let sidecar: TestSidecar;
  let receiverA: TestReceiver;
  let receiverB: TestReceiver;

  beforeEach(async () => {
    sidecar = await startSidecar(await database.create());
    receiverA = await TestReceiver.start();
    receiverB = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await receiverA.close();
    await receiverB.close();
  });

  async function deliveryRows(where: Record<string, string>): Promise<number> {
    const row = (await sidecar.app.db('deliveries').where(where).count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  }

  /** Every delivery is finished, so no further POST can come and receivers can be checked. */
  async function allSucceeded(count: number): Promise<void> {
    await waitUntil(
      async () => (await deliveryRows({ status: 'succeeded' })) === count,
      `${count} succeeded deliveries`,
    );
    expect(await deliveryRows({}), 'every delivery row').to.equal(count);
  }

  it("answers NOT_FOUND, never PERMISSION_DENIED, to another tenant's webhook and delivery ids", async () => {
    const a = sidecar.admin('tenant-a');
    const b = sidecar.admin('tenant-b');
    const created = await a.createWebhook({
      url: receiverA.url,
      eventTypes: ['user.login'],
      description: 'tenant a audit trail',
      organizationIds: [],
    });
    const id = created.webhook!.id;
    const published = await sidecar.ingest.publishEvent(event('tenant-a', 'evt-a-1'));
    expect(published.result!.deliveryCount).to.equal(1);
    const [deliveryA] = (await a.listDeliveries(EVERY_DELIVERY)).deliveries;
    expect(deliveryA!.webhookId).to.equal(id);
    const { webhook: original } = await a.getWebhook({ id });

    const seenByB: unknown[] = [];
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['GetWebhook', () => b.getWebhook({ id })],
      [
        'UpdateWebhook',
        () =>
          b.updateWebhook({
            webhook: { ...original!, url: receiverB.url, description: 'taken over', enabled: false },
            updateMask: ['url', 'description', 'enabled', 'event_types'],
            discardPausedDeliveries: false,
          }),
      ],
      ['DeleteWebhook', () => b.deleteWebhook({ id })],
      ['GetDelivery', () => b.getDelivery({ id: deliveryA!.id })],
    ];
    for (const [name, call] of calls) {
      const err = await rejectionOf(call());
      expect(err.code, `${name} as tenant-b: ${err.details}`).to.equal(status.NOT_FOUND);
      // The message may echo the id B sent, but nothing B did not already know.
      expect(err.details, name).to.not.include('tenant-a');
      expect(err.details, name).to.not.include(receiverA.url);
    }

    const webhooks = await b.listWebhooks({ pageSize: 0, pageToken: '' });
    expect(webhooks.webhooks).to.deep.equal([]);
    expect(webhooks.nextPageToken).to.equal('');
    const deliveries = await b.listDeliveries(EVERY_DELIVERY);
    expect(deliveries.deliveries).to.deep.equal([]);
    expect(deliveries.nextPageToken).to.equal('');
    seenByB.push(webhooks, deliveries);

    // A's webhook id as B's filter finds nothing: either no deliveries or NOT_FOUND.
    try {
      const filtered = await b.listDeliveries({ ...EVERY_DELIVERY, webhookId: id });
      expect(filtered.deliveries).to.deep.equal([]);
      seenByB.push(filtered);
    } catch (err) {
      expect((err as { code: number }).code).to.equal(status.NOT_FOUND);
    }

    const after = await a.getWebhook({ id });
    expect(after.webhook).to.deep.equal(original);
    expect(original).to.include({ url: receiverA.url, description: 'tenant a audit trail', enabled: true });
    expect(await deliveryRows({ id: deliveryA!.id, webhook_id: id, tenant_id: 'tenant-a' })).to.equal(1);
    expect((await a.getDelivery({ id: deliveryA!.id })).delivery!.id).to.equal(deliveryA!.id);

    const json = JSON.stringify(seenByB);
    for (const secretOfA of [id, deliveryA!.id, 'tenant-a', receiverA.url, 'evt-a-1']) {
      expect(json).to.not.include(secretOfA);
    }
  });

  it('never creates deliveries for another tenant\'s webhooks, even with "*"', async () => {
    const { webhook } = await sidecar.admin('tenant-a').createWebhook({
      url: receiverA.url,
      eventTypes: ['*'],
      description: '',
      organizationIds: [],
    });

    for (const [id, type] of [
      ['evt-b-1', 'user.login'],
      ['evt-b-2', 'mfa.enabled'],
      ['evt-b-3', 'security.account_locked'],
    ] as const) {
      const { result } = await sidecar.ingest.publishEvent(event('tenant-b', id, type));
      expect(result, id).to.include({ eventId: id, duplicate: false, deliveryCount: 0 });
    }
    const batch = await sidecar.ingest.publishEvents({
      events: [event('tenant-b', 'evt-b-4').event, event('tenant-b', 'evt-b-5', 'mfa.enabled').event],
    });
    expect(batch.results.map((r) => r.deliveryCount)).to.deep.equal([0, 0]);
    expect(await deliveryRows({ webhook_id: webhook!.id })).to.equal(0);
    expect(await deliveryRows({ tenant_id: 'tenant-b' })).to.equal(0);

    // A's own event goes through, and it is the only thing the receiver ever gets.
    const own = await sidecar.ingest.publishEvent(event('tenant-a', 'evt-a-1'));
    expect(own.result!.deliveryCount).to.equal(1);
    await receiverA.waitForRequests(1);
    await allSucceeded(1);
    expect(receiverA.requests).to.have.length(1);
    expect(JSON.parse(receiverA.requests[0]!.body)).to.include({ id: 'evt-a-1', tenant_id: 'tenant-a' });
  });

  it('gives a "*" webhook of each tenant only its own tenant\'s events', async () => {
    const a = await sidecar.admin('tenant-a').createWebhook({ url: receiverA.url, eventTypes: ['*'], description: 'a', organizationIds: [] });
    const b = await sidecar.admin('tenant-b').createWebhook({ url: receiverB.url, eventTypes: ['*'], description: 'b', organizationIds: [] });

    // The same event ids in both tenants: two events each, never crossed.
    const published = [
      event('tenant-a', 'evt-1'),
      event('tenant-b', 'evt-1'),
      event('tenant-a', 'evt-2', 'mfa.enabled'),
      event('tenant-b', 'evt-2', 'security.account_locked'),
      event('tenant-b', 'evt-3'),
    ];
    for (const req of published) {
      const { result } = await sidecar.ingest.publishEvent(req);
      expect(result, `${req.event.tenantId}/${req.event.id}`).to.include({ duplicate: false, deliveryCount: 1 });
    }
    await receiverA.waitForRequests(2);
    await receiverB.waitForRequests(3);
    await allSucceeded(5);

    const bodiesA = receiverA.requests.map((r) => JSON.parse(r.body) as { id: string; tenant_id: string; type: string });
    const bodiesB = receiverB.requests.map((r) => JSON.parse(r.body) as { id: string; tenant_id: string; type: string });
    expect(bodiesA.map((x) => x.tenant_id)).to.deep.equal(['tenant-a', 'tenant-a']);
    expect(bodiesB.map((x) => x.tenant_id)).to.deep.equal(['tenant-b', 'tenant-b', 'tenant-b']);
    expect(bodiesA.map((x) => `${x.id}:${x.type}`).sort()).to.deep.equal(['evt-1:user.login', 'evt-2:mfa.enabled']);
    expect(bodiesB.map((x) => `${x.id}:${x.type}`).sort()).to.deep.equal([
      'evt-1:user.login',
      'evt-2:security.account_locked',
      'evt-3:user.login',
    ]);

    const listA = await sidecar.admin('tenant-a').listDeliveries(EVERY_DELIVERY);
    const listB = await sidecar.admin('tenant-b').listDeliveries(EVERY_DELIVERY);
    expect(listA.deliveries.map((d) => d.webhookId)).to.deep.equal([a.webhook!.id, a.webhook!.id]);
    expect(listB.deliveries.map((d) => d.webhookId)).to.deep.equal([b.webhook!.id, b.webhook!.id, b.webhook!.id]);
    // Each receiver's webhook-id headers are exactly its own tenant's delivery ids.
    expect(receiverA.requests.map((r) => r.headers['webhook-id']).sort()).to.deep.equal(
      listA.deliveries.map((d) => d.id).sort(),
    );
    expect(receiverB.requests.map((r) => r.headers['webhook-id']).sort()).to.deep.equal(
      listB.deliveries.map((d) => d.id).sort(),
    );
  });

  it('does not let a webhook or delivery id be used from the other tenant, in either direction', async () => {
    const a = sidecar.admin('tenant-a');
    const b = sidecar.admin('tenant-b');
    const whA = (await a.createWebhook({ url: receiverA.url, eventTypes: ['user.*'], description: 'a', organizationIds: [] })).webhook!;
    const whB = (await b.createWebhook({ url: receiverB.url, eventTypes: ['user.*'], description: 'b', organizationIds: [] })).webhook!;
    expect(whA.id).to.not.equal(whB.id);
    await sidecar.ingest.publishEvent(event('tenant-a', 'evt-a'));
    await sidecar.ingest.publishEvent(event('tenant-b', 'evt-b'));
    const [dA] = (await a.listDeliveries(EVERY_DELIVERY)).deliveries;
    const [dB] = (await b.listDeliveries(EVERY_DELIVERY)).deliveries;

    const pairs: Array<[typeof a, string, string]> = [
      [a, whB.id, dB!.id],
      [b, whA.id, dA!.id],
    ];
    for (const [client, foreignWebhook, foreignDelivery] of pairs) {
      expect((await rejectionOf(client.getWebhook({ id: foreignWebhook }))).code).to.equal(status.NOT_FOUND);
      expect((await rejectionOf(client.getDelivery({ id: foreignDelivery }))).code).to.equal(status.NOT_FOUND);
      const patch = { webhook: { ...whA, id: foreignWebhook, description: 'crossed' }, updateMask: ['description'], discardPausedDeliveries: false };
      expect((await rejectionOf(client.updateWebhook(patch))).code).to.equal(status.NOT_FOUND);
      expect((await rejectionOf(client.deleteWebhook({ id: foreignWebhook }))).code).to.equal(status.NOT_FOUND);
    }

    // Both webhooks, and both deliveries, are exactly as their own tenants left them.
    expect((await a.getWebhook({ id: whA.id })).webhook).to.deep.equal(whA);
    expect((await b.getWebhook({ id: whB.id })).webhook).to.deep.equal(whB);
    expect((await a.listWebhooks({ pageSize: 0, pageToken: '' })).webhooks.map((w) => w.id)).to.deep.equal([whA.id]);
    expect((await b.listWebhooks({ pageSize: 0, pageToken: '' })).webhooks.map((w) => w.id)).to.deep.equal([whB.id]);
    expect(await deliveryRows({ tenant_id: 'tenant-a', webhook_id: whA.id })).to.equal(1);
    expect(await deliveryRows({ tenant_id: 'tenant-b', webhook_id: whB.id })).to.equal(1);
    await allSucceeded(2);
    expect(JSON.parse(receiverA.requests[0]!.body)).to.include({ id: 'evt-a', tenant_id: 'tenant-a' });
    expect(JSON.parse(receiverB.requests[0]!.body)).to.include({ id: 'evt-b', tenant_id: 'tenant-b' });
    expect(receiverA.requests).to.have.length(1);
    expect(receiverB.requests).to.have.length(1);
  });

  // MySQL compares strings by the column's collation, and the server's default ignores case:
  // "ACME" = "acme". Identifiers are compared byte for byte, as SQLite does.
  it('keeps tenants, and event ids, that differ only in case apart', async () => {
    const lower = sidecar.admin('acme');
    const upper = sidecar.admin('ACME');
    const created = (await lower.createWebhook({ url: receiverA.url, eventTypes: ['user.login'], description: 'acme', organizationIds: [] })).webhook!;
    const secretOfAcme = (await lower.rotateWebhookSecret({ id: created.id })).secret;
    const { webhook: original } = await lower.getWebhook({ id: created.id });

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['GetWebhook', () => upper.getWebhook({ id: created.id })],
      ['UpdateWebhook', () => upper.updateWebhook({ webhook: { ...original!, url: receiverB.url }, updateMask: ['url'], discardPausedDeliveries: false })],
      ['RotateWebhookSecret', () => upper.rotateWebhookSecret({ id: created.id })],
      ['DeleteWebhook', () => upper.deleteWebhook({ id: created.id })],
    ];
    for (const [name, call] of calls) {
      expect((await rejectionOf(call())).code, `${name} as ACME`).to.equal(status.NOT_FOUND);
    }
    expect((await upper.listWebhooks({ pageSize: 0, pageToken: '' })).webhooks).to.deep.equal([]);

    // The same id in both tenants, and an id of acme's that differs from it only in case: three
    // events, none a duplicate of another, and only acme's two reach acme's webhook.
    for (const [tenant, id, deliveries] of [
      ['acme', 'evt-1', 1],
      ['ACME', 'evt-1', 0],
      ['acme', 'EVT-1', 1],
    ] as const) {
      const { result } = await sidecar.ingest.publishEvent(event(tenant, id));
      expect(result, `${tenant}/${id}`).to.include({ eventId: id, duplicate: false, deliveryCount: deliveries });
    }
    await receiverA.waitForRequests(2);
    await allSucceeded(2);
    const bodies = receiverA.requests.map((r) => JSON.parse(r.body) as { id: string; tenant_id: string });
    expect(bodies.map((b) => `${b.tenant_id}/${b.id}`).sort()).to.deep.equal(['acme/EVT-1', 'acme/evt-1']);
    expect((await upper.listDeliveries(EVERY_DELIVERY)).deliveries).to.deep.equal([]);
    expect((await lower.listDeliveries(EVERY_DELIVERY)).deliveries).to.have.length(2);
    expect((await lower.getWebhook({ id: created.id })).webhook).to.deep.equal(original);
    expect(secretOfAcme).to.match(/^whsec_/);
    expect(receiverB.requests).to.have.length(0);
  });
});
