/**
 * Deliveries whose webhook no longer exists (ingest raced DeleteWebhook), on each database: the
 * worker ends them as failed and keeps delivering to the webhooks that remain. Each used to keep
 * one of the worker's slots for good, so a few of them stopped delivery on the replica.
 */
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { UpdateWebhookRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-orphans';

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

forEachDatabase('deliveries of a deleted webhook', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;

  beforeEach(async () => {
    // Two slots: three orphans would hold more than all of them.
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_DELIVERY_CONCURRENCY: '2' });
    receiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  it('are ended as failed, and the worker keeps delivering to other webhooks', async () => {
    const admin = sidecar.admin(TENANT);
    const db = sidecar.app.db;
    const { webhook: gone } = await admin.createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    // Disabled, its deliveries wait paused; then its row goes alone, as when ingest wrote them
    // while DeleteWebhook ran, and they fall due with no webhook.
    await admin.updateWebhook(UpdateWebhookRequest.fromPartial({ webhook: { id: gone!.id, enabled: false }, updateMask: ['enabled'] }));
    await sidecar.ingest.publishEvents({ events: ['o-1', 'o-2', 'o-3'].map(login) });
    await db('webhooks').where({ tenant_id: TENANT, id: gone!.id }).delete();
    await db('deliveries').where({ webhook_id: gone!.id }).update({ status: 'pending', next_attempt_at: Date.now() });
    const orphansEnded = async () =>
      ((await db('deliveries').where({ webhook_id: gone!.id, status: 'failed' }).pluck('id')) as string[]).length === 3;
    await waitUntil(orphansEnded, 'the three orphan deliveries to end as failed');

    await admin.createWebhook({ url: `${receiver.url}/live`, eventTypes: ['user.login'], description: '', organizationIds: [] });
    await sidecar.ingest.publishEvents({ events: ['l-1', 'l-2', 'l-3', 'l-4'].map(login) });
    await waitUntil(() => receiver.requests.filter((r) => r.path === '/hooks/live').length === 4, 'four deliveries to the live webhook');
    const lastErrors = (await db('deliveries').where({ webhook_id: gone!.id }).pluck('last_error')) as string[];
    expect(lastErrors).to.deep.equal(['the webhook was deleted', 'the webhook was deleted', 'the webhook was deleted']);
  });
});
