/**
 * Bad input on every WebhookManagement RPC, on each database: INVALID_ARGUMENT with details that
 * start with the field, no row written, and the tenant's webhook exactly as it was.
 */
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Knex } from 'knex';
import { Timestamp } from '../../src/grpc/generated/google/protobuf/timestamp';
import {
  GetWebhookStatsRequest,
  ListDeliveriesRequest,
  RetryFailedDeliveriesRequest,
  type DeliveryStatus,
  type Webhook,
  type WebhookManagementClient,
} from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { metadataOf, promised, rejectionOf, type Promised } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-mgmt';
const TABLES = ['webhooks', 'webhook_stats', 'events', 'deliveries', 'delivery_attempts'] as const;
const DAY_S = 86_400;

type Admin = Promised<WebhookManagementClient>;
interface Ctx {
  readonly admin: Admin;
  /** The tenant's one webhook, as CreateWebhook returned it. */
  readonly hook: Webhook;
  /** The admin token with this x-tenant-id (none when undefined). */
  adminAs(tenantId: string | undefined): Admin;
  /** An RPC with a message given as bytes, for what the typed client cannot encode. */
  raw(rpc: string, message: Uint8Array): Promise<unknown>;
}
interface Case {
  readonly name: string;
  readonly field: string;
  readonly call: (c: Ctx) => Promise<unknown>;
  /** Text the details must not echo (a credential). */
  readonly secret?: string;
}

const create = (c: Ctx, overrides: { url?: string; eventTypes?: string[]; description?: string; organizationIds?: string[] }) =>
  c.admin.createWebhook({ url: 'https://hooks.example.com/in', eventTypes: ['user.login'], description: '', organizationIds: [], ...overrides });
const update = (c: Ctx, mask: string[] | undefined, overrides: Partial<Webhook> = {}) =>
  c.admin.updateWebhook({ webhook: { ...c.hook, ...overrides }, updateMask: mask, discardPausedDeliveries: false });
const listDeliveries = (c: Ctx, overrides: Partial<Parameters<Admin['listDeliveries']>[0]>) =>
  c.admin.listDeliveries({ webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '', ...overrides });
const LONG_ID = 'x'.repeat(65);
const T0 = new Date('2026-11-27T10:00:00.000Z');
const token = (json: string) => Buffer.from(json, 'utf8').toString('base64url');
/**
 * A message with a Timestamp field appended whose seconds (1e13) are past the last date a Date
 * can hold (year 275760): valid protobuf that the server decodes to an invalid Date.
 */
function withFarTimestamp(message: Uint8Array, fieldNumber: number): Uint8Array {
  const ts = Timestamp.encode({ seconds: 10 ** 13, nanos: 0 }).finish();
  return Buffer.concat([message, Buffer.from([(fieldNumber << 3) | 2, ts.length]), ts]);
}
/**
 * A message with a Timestamp or Duration field appended whose seconds are 2^60: valid protobuf,
 * beyond what a JS number holds exactly (src/grpc/timestamps.ts), so only raw bytes can send it.
 */
function withHugeSeconds(message: Uint8Array, fieldNumber: number): Uint8Array {
  const inner = new BinaryWriter().uint32(8).int64(2n ** 60n).finish();
  return Buffer.concat([message, Buffer.from([(fieldNumber << 3) | 2, inner.length]), inner]);
}
const listDeliveriesBytes = ListDeliveriesRequest.encode({ webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '' }).finish();

const CASES: Record<string, readonly Case[]> = {
  CreateWebhook: [
    { name: 'an empty url', field: 'url', call: (c) => create(c, { url: '' }) },
    { name: 'an ftp url', field: 'url', call: (c) => create(c, { url: 'ftp://hooks.example.com/in' }) },
    { name: 'credentials in the url', field: 'url', secret: 's3cr3t-pw', call: (c) => create(c, { url: 'https://ops:s3cr3t-pw@hooks.example.com/in' }) },
    { name: 'the private 10.0.0.1', field: 'url', call: (c) => create(c, { url: 'http://10.0.0.1/in' }) },
    { name: 'the metadata endpoint 169.254.169.254', field: 'url', call: (c) => create(c, { url: 'http://169.254.169.254/latest/meta-data/' }) },
    { name: '10.0.0.1 spelled in hex', field: 'url', call: (c) => create(c, { url: 'http://0x0a000001/in' }) },
    { name: 'IPv4-mapped IPv6 of 169.254.169.254', field: 'url', call: (c) => create(c, { url: 'http://[::ffff:169.254.169.254]/' }) },
    { name: 'IPv6 loopback', field: 'url', call: (c) => create(c, { url: 'http://[::1]:8080/in' }) },
    { name: 'localhost', field: 'url', call: (c) => create(c, { url: 'http://localhost:8080/in' }) },
    { name: 'a single-label host', field: 'url', call: (c) => create(c, { url: 'https://hooks/in' }) },
    { name: 'a url over 2048 characters', field: 'url', call: (c) => create(c, { url: `https://hooks.example.com/${'a'.repeat(2048)}` }) },
    { name: 'a relative url', field: 'url', call: (c) => create(c, { url: '/hooks/in' }) },
    { name: 'no event types', field: 'event_types', call: (c) => create(c, { eventTypes: [] }) },
    { name: '51 event types', field: 'event_types', call: (c) => create(c, { eventTypes: Array<string>(51).fill('user.login') }) },
    { name: 'an unknown second type', field: 'event_types[1]', call: (c) => create(c, { eventTypes: ['user.login', 'user.teleported'] }) },
    { name: 'the internal webhook.test', field: 'event_types[0]', call: (c) => create(c, { eventTypes: ['webhook.test'] }) },
    { name: 'a wildcard of no category', field: 'event_types[0]', call: (c) => create(c, { eventTypes: ['billing.*'] }) },
    { name: 'a 1025-character description', field: 'description', call: (c) => create(c, { description: 'd'.repeat(1025) }) },
    { name: 'a malformed organization id', field: 'organization_ids[0]', call: (c) => create(c, { organizationIds: ['org 1'] }) },
    { name: '101 organization ids', field: 'organization_ids', call: (c) => create(c, { organizationIds: Array.from({ length: 101 }, (_, i) => `org-${i}`) }) },
    { name: 'no x-tenant-id', field: 'x-tenant-id', call: (c) => c.adminAs(undefined).createWebhook({ url: 'https://hooks.example.com/in', eventTypes: ['*'], description: '', organizationIds: [] }) },
    { name: 'a malformed x-tenant-id', field: 'x-tenant-id', call: (c) => c.adminAs('tenant a').createWebhook({ url: 'https://hooks.example.com/in', eventTypes: ['*'], description: '', organizationIds: [] }) },
  ],
  GetWebhook: [
    { name: 'an empty id', field: 'id', call: (c) => c.admin.getWebhook({ id: '' }) },
    { name: 'a 65-character id', field: 'id', call: (c) => c.admin.getWebhook({ id: LONG_ID }) },
    { name: 'a 65-character x-tenant-id', field: 'x-tenant-id', call: (c) => c.adminAs('t'.repeat(65)).getWebhook({ id: c.hook.id }) },
  ],
  ListWebhooks: [
    { name: 'a negative page_size', field: 'page_size', call: (c) => c.admin.listWebhooks({ pageSize: -1, pageToken: '' }) },
    { name: 'page_size 101', field: 'page_size', call: (c) => c.admin.listWebhooks({ pageSize: 101, pageToken: '' }) },
    { name: 'a page_token it never issued', field: 'page_token', call: (c) => c.admin.listWebhooks({ pageSize: 0, pageToken: 'not-a-token' }) },
    { name: 'a page_token of the wrong shape', field: 'page_token', call: (c) => c.admin.listWebhooks({ pageSize: 0, pageToken: token('{"a":5}') }) },
  ],
  UpdateWebhook: [
    { name: 'no webhook', field: 'webhook', call: (c) => c.admin.updateWebhook({ webhook: undefined, updateMask: ['description'], discardPausedDeliveries: false }) },
    { name: 'no update_mask', field: 'update_mask', call: (c) => update(c, undefined, { description: 'changed' }) },
    { name: 'an empty update_mask', field: 'update_mask', call: (c) => update(c, [], { description: 'changed' }) },
    { name: 'a mask path that cannot be updated', field: 'update_mask.paths[0]', call: (c) => update(c, ['tenant_id'], { tenantId: 'tenant-other' }) },
    { name: 'a good path then a bad one', field: 'update_mask.paths[1]', call: (c) => update(c, ['description', 'secret'], { description: 'changed' }) },
    { name: 'no webhook.id', field: 'webhook.id', call: (c) => update(c, ['description'], { id: '', description: 'changed' }) },
    { name: 'an empty url', field: 'webhook.url', call: (c) => update(c, ['url'], { url: '' }) },
    { name: 'an ftp url', field: 'webhook.url', call: (c) => update(c, ['url'], { url: 'ftp://hooks.example.com/in' }) },
    { name: 'the metadata endpoint', field: 'webhook.url', call: (c) => update(c, ['url'], { url: 'http://169.254.169.254/' }) },
    { name: 'a good description with a bad url', field: 'webhook.url', call: (c) => update(c, ['description', 'url'], { description: 'changed', url: 'http://10.0.0.1/' }) },
    { name: 'no event types', field: 'webhook.event_types', call: (c) => update(c, ['event_types'], { eventTypes: [] }) },
    { name: 'the internal webhook.test', field: 'webhook.event_types[0]', call: (c) => update(c, ['event_types'], { eventTypes: ['webhook.test'] }) },
    { name: 'an unknown second type', field: 'webhook.event_types[1]', call: (c) => update(c, ['eventTypes'], { eventTypes: ['user.login', 'nope'] }) },
    { name: 'a 1025-character description', field: 'webhook.description', call: (c) => update(c, ['description'], { description: 'd'.repeat(1025) }) },
    { name: 'a malformed organization id', field: 'webhook.organization_ids[0]', call: (c) => update(c, ['organization_ids'], { organizationIds: ['org 1'] }) },
  ],
  DeleteWebhook: [
    { name: 'an empty id', field: 'id', call: (c) => c.admin.deleteWebhook({ id: '' }) },
    { name: 'a 65-character id', field: 'id', call: (c) => c.admin.deleteWebhook({ id: LONG_ID }) },
    { name: 'no x-tenant-id', field: 'x-tenant-id', call: (c) => c.adminAs(undefined).deleteWebhook({ id: c.hook.id }) },
  ],
  RotateWebhookSecret: [
    { name: 'an empty id', field: 'id', call: (c) => c.admin.rotateWebhookSecret({ id: '' }) },
    { name: 'a 65-character id', field: 'id', call: (c) => c.admin.rotateWebhookSecret({ id: LONG_ID }) },
  ],
  ListDeliveries: [
    { name: 'page_size 101', field: 'page_size', call: (c) => listDeliveries(c, { pageSize: 101 }) },
    { name: 'a negative page_size', field: 'page_size', call: (c) => listDeliveries(c, { pageSize: -5 }) },
    { name: 'a page_token it never issued', field: 'page_token', call: (c) => listDeliveries(c, { pageToken: 'garbage!' }) },
    { name: 'an undefined status', field: 'status', call: (c) => listDeliveries(c, { status: 99 as DeliveryStatus }) },
    { name: 'end_time equal to start_time', field: 'end_time', call: (c) => listDeliveries(c, { startTime: T0, endTime: T0 }) },
    { name: 'end_time before start_time', field: 'end_time', call: (c) => listDeliveries(c, { startTime: T0, endTime: new Date(T0.getTime() - 1000) }) },
    { name: 'a 65-character webhook_id', field: 'webhook_id', call: (c) => listDeliveries(c, { webhookId: LONG_ID }) },
    { name: 'a start_time past any date', field: 'start_time', call: (c) => c.raw('ListDeliveries', withFarTimestamp(listDeliveriesBytes, 3)) },
    { name: 'an end_time past any date', field: 'end_time', call: (c) => c.raw('ListDeliveries', withFarTimestamp(listDeliveriesBytes, 4)) },
    { name: 'a start_time with seconds beyond 2^53', field: 'start_time', call: (c) => c.raw('ListDeliveries', withHugeSeconds(listDeliveriesBytes, 3)) },
  ],
  GetDelivery: [
    { name: 'an empty id', field: 'id', call: (c) => c.admin.getDelivery({ id: '' }) },
    { name: 'a 65-character id', field: 'id', call: (c) => c.admin.getDelivery({ id: LONG_ID }) },
  ],
  RetryDelivery: [
    { name: 'an empty id', field: 'id', call: (c) => c.admin.retryDelivery({ id: '' }) },
    { name: 'a 65-character id', field: 'id', call: (c) => c.admin.retryDelivery({ id: LONG_ID }) },
  ],
  RetryFailedDeliveries: [
    { name: 'no since', field: 'since', call: (c) => c.admin.retryFailedDeliveries({ webhookId: c.hook.id, since: undefined }) },
    { name: 'an empty webhook_id', field: 'webhook_id', call: (c) => c.admin.retryFailedDeliveries({ webhookId: '', since: T0 }) },
    {
      name: 'a since past any date',
      field: 'since',
      call: (c) => c.raw('RetryFailedDeliveries', withFarTimestamp(RetryFailedDeliveriesRequest.encode({ webhookId: c.hook.id, since: undefined }).finish(), 2)),
    },
  ],
  SendTestEvent: [
    { name: 'an empty webhook_id', field: 'webhook_id', call: (c) => c.admin.sendTestEvent({ webhookId: '', data: undefined }) },
    { name: 'a 65-character webhook_id', field: 'webhook_id', call: (c) => c.admin.sendTestEvent({ webhookId: LONG_ID, data: undefined }) },
    // The test event's body must respect WEBHOOKS_MAX_EVENT_BYTES (65536) like any other event.
    { name: 'data over WEBHOOKS_MAX_EVENT_BYTES', field: 'data', call: (c) => c.admin.sendTestEvent({ webhookId: c.hook.id, data: { note: 'x'.repeat(70_000) } }) },
  ],
  GetWebhookStats: [
    { name: 'an empty webhook_id', field: 'webhook_id', call: (c) => c.admin.getWebhookStats({ webhookId: '', window: undefined }) },
    { name: 'a negative window', field: 'window', call: (c) => c.admin.getWebhookStats({ webhookId: c.hook.id, window: { seconds: -60, nanos: 0 } }) },
    { name: 'a window over 90 days', field: 'window', call: (c) => c.admin.getWebhookStats({ webhookId: c.hook.id, window: { seconds: 91 * DAY_S, nanos: 0 } }) },
    {
      name: 'a window with seconds beyond 2^53',
      field: 'window',
      call: (c) => c.raw('GetWebhookStats', withHugeSeconds(GetWebhookStatsRequest.encode({ webhookId: c.hook.id, window: undefined }).finish(), 2)),
    },
  ],
  ListEventTypes: [{ name: 'no x-tenant-id', field: 'x-tenant-id', call: (c) => c.adminAs(undefined).listEventTypes({}) }],
};

async function rowCounts(db: Knex): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) {
    const row = (await db(table).count({ n: '*' }).first()) as { n: number | string };
    counts[table] = Number(row.n);
  }
  return counts;
}

forEachDatabase('bad input on WebhookManagement', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let db: Knex;
  let ctx: Ctx;

  before(async () => {
    sidecar = await startSidecar(await database.create());
    db = sidecar.app.db;
    receiver = await TestReceiver.start();
    const admin = sidecar.admin(TENANT);
    const { webhook } = await admin.createWebhook({ url: receiver.url, eventTypes: ['user.login', 'security.*'], description: 'audit', organizationIds: ['org-1'] });
    ctx = {
      admin,
      hook: webhook!,
      adminAs: (tenantId) => promised(sidecar.managementClient, metadataOf(sidecar.config.tokens.admin, tenantId)),
      raw: (rpc, message) =>
        new Promise((resolve, reject) => {
          const identity = (b: Buffer): Buffer => b;
          sidecar.managementClient.makeUnaryRequest(
            `/webhooks.v1.WebhookManagement/${rpc}`,
            identity,
            identity,
            Buffer.from(message),
            metadataOf(sidecar.config.tokens.admin, TENANT),
            (err, out) => (err ? reject(err) : resolve(out)),
          );
        }),
    };
  });

  after(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  /** Row counts once no delivery is in flight, so that they hold still. */
  async function settled(): Promise<Record<string, number>> {
    const pending = async () => (await db('deliveries').where('status', 'pending').count({ n: '*' }).first()) as { n: number | string };
    await waitUntil(async () => Number((await pending()).n) === 0, 'no pending deliveries');
    return rowCounts(db);
  }

  for (const [rpc, cases] of Object.entries(CASES)) {
    describe(rpc, () => {
      for (const { name, field, call, secret } of cases) {
        it(`refuses ${name}, naming ${field}, and changes nothing`, async () => {
          const before = await settled();
          const hookBefore = await ctx.admin.getWebhook({ id: ctx.hook.id });
          const err = await rejectionOf(call(ctx));
          expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
          expect(err.details.slice(0, field.length + 2), err.details).to.equal(`${field}: `);
          if (secret !== undefined) expect(err.details).not.to.include(secret);
          expect(await settled()).to.deep.equal(before);
          expect(await ctx.admin.getWebhook({ id: ctx.hook.id })).to.deep.equal(hookBefore);
        });
      }
    });
  }

  it('is still healthy afterwards: the tenant has exactly its webhook, and valid calls succeed', async () => {
    const { webhooks } = await ctx.admin.listWebhooks({ pageSize: 0, pageToken: '' });
    expect(webhooks).to.deep.equal([ctx.hook]);
    const { webhook: created } = await create(ctx, { url: 'https://hooks.example.com/ok', eventTypes: ['mfa.*'] });
    expect(created).to.include({ tenantId: TENANT, url: 'https://hooks.example.com/ok', enabled: true });
    const { webhook: updated } = await update(ctx, ['description'], { description: 'audit, renamed' });
    expect(updated).to.deep.include({ id: ctx.hook.id, description: 'audit, renamed', url: receiver.url, eventTypes: ['user.login', 'security.*'] });
    const { delivery } = await ctx.admin.sendTestEvent({ webhookId: ctx.hook.id, data: { note: 'hello' } });
    expect(delivery).to.include({ webhookId: ctx.hook.id, eventType: 'webhook.test' });
    await waitUntil(() => receiver.requests.some((r) => r.headers['webhook-id'] === delivery!.id), 'the test event at the receiver');
    const body = receiver.requests.find((r) => r.headers['webhook-id'] === delivery!.id)!.body;
    expect(JSON.parse(body)).to.deep.include({ type: 'webhook.test', tenant_id: TENANT, data: { note: 'hello' } });
  });
});
