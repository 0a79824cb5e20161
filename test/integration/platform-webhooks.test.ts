/**
 * Platform webhooks, on each database: the platform operator's token manages webhooks that get the
 * chosen event types of every tenant, each payload naming its event's tenant; no tenant token can
 * see, change or delete them, nor see their deliveries or statistics; the platform token sees no
 * tenant's webhooks either.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { PLATFORM_SCOPE } from '../../src/grpc/auth';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import type { ListDeliveriesRequest, Webhook } from '../../src/grpc/generated/webhooks/v1/management';
import { purgeOnce } from '../../src/outbox/retention';
import { forEachDatabase } from '../support/databases';
import { metadataOf, promised, rejectionOf } from '../support/grpc-clients';
import { TestReceiver, type ReceivedRequest } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANTS = ['tenant-a', 'tenant-b', 'tenant-c'];
const ALL: ListDeliveriesRequest = { webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '' };
const newHook = (url: string, eventTypes: string[]) => ({ url, eventTypes, description: 'siem', organizationIds: [] });

function loginFailed(tenantId: string, id: string): { event: Event } {
  return { event: { id, tenantId, type: 'user.login_failed', occurredAt: undefined, organizationId: '', data: { reason: 'invalid_credentials' } } };
}

function verify(secret: string, request: ReceivedRequest): unknown {
  return new StandardWebhook(secret).verify(request.body, {
    'webhook-id': request.headers['webhook-id'] as string,
    'webhook-timestamp': request.headers['webhook-timestamp'] as string,
    'webhook-signature': request.headers['webhook-signature'] as string,
  });
}

forEachDatabase('platform webhooks', (database) => {
  let sidecar: TestSidecar;
  let siem: TestReceiver;
  let tenantReceiver: TestReceiver;

  beforeEach(async () => {
    // Set explicitly: MySQL mode generates no platform token.
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}` });
    siem = await TestReceiver.start();
    tenantReceiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await siem.close();
    await tenantReceiver.close();
  });

  async function succeeded(count: number): Promise<void> {
    const done = async () => Number(((await sidecar.app.db('deliveries').where('status', 'succeeded').count({ n: '*' }).first()) as { n: number | string }).n);
    await waitUntil(async () => (await done()) === count, `${count} succeeded deliveries`);
  }

  it("receives user.login_failed of three tenants, each payload naming its tenant, signed with the platform webhook's secret", async () => {
    const { webhook, secret } = await sidecar.platform().createWebhook(newHook(siem.url, ['user.login_failed']));
    expect(webhook).to.include({ tenantId: PLATFORM_SCOPE, url: siem.url, enabled: true });
    // A tenant's own webhook for the same type still gets its own tenant's event.
    await sidecar.admin('tenant-a').createWebhook(newHook(tenantReceiver.url, ['user.*']));

    for (const [i, tenantId] of TENANTS.entries()) {
      const { result } = await sidecar.ingest.publishEvent(loginFailed(tenantId, `evt-${i}`));
      expect(result!.deliveryCount, tenantId).to.equal(tenantId === 'tenant-a' ? 2 : 1);
    }
    // Not a subscribed type: the platform webhook does not get it.
    await sidecar.ingest.publishEvent({ event: { ...loginFailed('tenant-b', 'evt-login').event, type: 'user.login', data: { user_id: 'u-1' } } });
    await siem.waitForRequests(3);
    await succeeded(4);

    const bodies = siem.requests.map((r) => verify(secret, r) as { id: string; tenant_id: string; type: string });
    expect(bodies.map((b) => `${b.tenant_id}/${b.id}/${b.type}`).sort()).to.deep.equal([
      'tenant-a/evt-0/user.login_failed',
      'tenant-b/evt-1/user.login_failed',
      'tenant-c/evt-2/user.login_failed',
    ]);
    expect(siem.requests).to.have.length(3);
    expect(tenantReceiver.requests.map((r) => (JSON.parse(r.body) as { id: string }).id)).to.deep.equal(['evt-0']);

    // History and statistics, as the platform token sees them.
    const deliveries = (await sidecar.platform().listDeliveries(ALL)).deliveries;
    expect(deliveries.map((d) => d.webhookId)).to.deep.equal([webhook!.id, webhook!.id, webhook!.id]);
    expect(deliveries.map((d) => d.eventId).sort()).to.deep.equal(['evt-0', 'evt-1', 'evt-2']);
    expect(siem.requests.map((r) => r.headers['webhook-id']).sort()).to.deep.equal(deliveries.map((d) => d.id).sort());
    const { attempts } = await sidecar.platform().getDelivery({ id: deliveries[0]!.id });
    expect(attempts.map((a) => a.statusCode)).to.deep.equal([200]);
    const { stats } = await sidecar.platform().getWebhookStats({ webhookId: webhook!.id, window: undefined });
    expect(stats).to.include({ deliveriesSucceeded: 3, attempts: 3 });
  });

  it('is invisible to every tenant token: list, read, update, delete, rotate, deliveries and stats', async () => {
    const { webhook } = await sidecar.platform().createWebhook(newHook(siem.url, ['*']));
    const id = webhook!.id;
    for (const [i, tenantId] of TENANTS.entries()) await sidecar.ingest.publishEvent(loginFailed(tenantId, `evt-${i}`));
    await succeeded(3);
    const platformDeliveries = (await sidecar.platform().listDeliveries(ALL)).deliveries.map((d) => d.id);
    expect(platformDeliveries).to.have.length(3);
    const original = (await sidecar.platform().getWebhook({ id })).webhook!;

    for (const tenantId of TENANTS) {
      const tenant = sidecar.admin(tenantId);
      expect((await tenant.listWebhooks({ pageSize: 100, pageToken: '' })).webhooks, tenantId).to.deep.equal([]);
      expect((await tenant.listDeliveries(ALL)).deliveries, tenantId).to.deep.equal([]);
      const refusals: Array<[string, () => Promise<unknown>]> = [
        ['GetWebhook', () => tenant.getWebhook({ id })],
        ['UpdateWebhook', () => tenant.updateWebhook({ webhook: { ...original, url: tenantReceiver.url }, updateMask: ['url'], discardPausedDeliveries: false })],
        ['DeleteWebhook', () => tenant.deleteWebhook({ id })],
        ['RotateWebhookSecret', () => tenant.rotateWebhookSecret({ id })],
        ['GetWebhookStats', () => tenant.getWebhookStats({ webhookId: id, window: undefined })],
        ['ListDeliveries', () => tenant.listDeliveries({ ...ALL, webhookId: id })],
        ['SendTestEvent', () => tenant.sendTestEvent({ webhookId: id, data: undefined })],
        ['RetryFailedDeliveries', () => tenant.retryFailedDeliveries({ webhookId: id, since: new Date(0) })],
        ...platformDeliveries.flatMap((d): Array<[string, () => Promise<unknown>]> => [
          ['GetDelivery', () => tenant.getDelivery({ id: d })],
          ['RetryDelivery', () => tenant.retryDelivery({ id: d })],
        ]),
      ];
      for (const [name, call] of refusals) {
        const err = await rejectionOf(call());
        expect(err.code, `${tenantId} ${name}: ${err.details}`).to.equal(status.NOT_FOUND);
        expect(err.details).to.not.include(PLATFORM_SCOPE);
        expect(err.details).to.not.include(siem.url);
      }
    }
    // Exactly as the platform left it: no tenant call changed, rotated or redelivered anything.
    expect((await sidecar.platform().getWebhook({ id })).webhook).to.deep.equal(original);
    await sidecar.ingest.publishEvent(loginFailed('tenant-a', 'evt-after'));
    await siem.waitForRequests(4);
    await succeeded(4);
    expect(siem.requests).to.have.length(4);
  });

  it('sees no tenant webhook with the platform token, and takes no x-tenant-id', async () => {
    const tenantHook = (await sidecar.admin('tenant-a').createWebhook(newHook(tenantReceiver.url, ['*']))).webhook!;
    const platform = sidecar.platform();
    expect((await platform.listWebhooks({ pageSize: 100, pageToken: '' })).webhooks).to.deep.equal([]);
    expect((await rejectionOf(platform.getWebhook({ id: tenantHook.id }))).code).to.equal(status.NOT_FOUND);
    expect((await rejectionOf(platform.deleteWebhook({ id: tenantHook.id }))).code).to.equal(status.NOT_FOUND);

    const withTenant = promised(sidecar.managementClient, metadataOf(sidecar.config.tokens.platform, 'tenant-a'));
    const err = await rejectionOf(withTenant.listWebhooks({ pageSize: 0, pageToken: '' }));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.match(/^x-tenant-id: /);
    // The reserved scope is no tenant id an admin token can name.
    const spoof = await rejectionOf(sidecar.admin(PLATFORM_SCOPE).listWebhooks({ pageSize: 0, pageToken: '' }));
    expect(spoof.code).to.equal(status.INVALID_ARGUMENT);
    const ingestAsPlatform = promised(sidecar.ingestClient, metadataOf(sidecar.config.tokens.platform));
    expect((await rejectionOf(ingestAsPlatform.publishEvent(loginFailed('tenant-a', 'evt-x')))).code).to.equal(status.PERMISSION_DENIED);
    expect((await rejectionOf(platform.createWebhook({ ...newHook(siem.url, ['*']), organizationIds: ['org-1'] }))).details).to.match(
      /^organization_ids: /,
    );
  });

  it('keeps an event while a platform delivery still needs it, after the tenant\'s own deliveries are purged', async () => {
    siem.respondWith(() => ({ status: 503 }));
    await sidecar.stop();
    sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_RETRY_BASE_MS: '3600000',
    });
    const hook: Webhook = (await sidecar.platform().createWebhook(newHook(siem.url, ['user.login_failed']))).webhook!;
    await sidecar.admin('tenant-a').createWebhook(newHook(tenantReceiver.url, ['*']));
    await sidecar.ingest.publishEvent(loginFailed('tenant-a', 'evt-kept'));
    await succeeded(1);
    await waitUntil(async () => (await sidecar.platform().getWebhookStats({ webhookId: hook.id, window: undefined })).stats!.attempts === 1, 'the failed platform attempt');

    // Everything finished is old enough to go; the platform delivery waits for its retry.
    await purgeOnce(sidecar.app.db, Date.now() + 1_000);
    const events = (await sidecar.app.db('events').select('tenant_id', 'id')) as Array<{ tenant_id: string; id: string }>;
    expect(events).to.deep.equal([{ tenant_id: 'tenant-a', id: 'evt-kept' }]);
    const rows = (await sidecar.app.db('deliveries').select('tenant_id', 'event_tenant_id', 'status')) as unknown[];
    expect(rows).to.deep.equal([{ tenant_id: PLATFORM_SCOPE, event_tenant_id: 'tenant-a', status: 'pending' }]);
  });
});
