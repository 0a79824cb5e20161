/**
 * The whole path on each database: a tenant's webhook, events in through EventIngest, one signed
 * POST out to a real receiver, and the attempt on record.
 */
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { DeliveryStatus } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

forEachDatabase('first signed delivery end to end', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;

  beforeEach(async () => {
    sidecar = await startSidecar(await database.create());
    receiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  it('delivers exactly the subscribed event of the tenant, signed, and records the attempt', async () => {
    const { webhook, secret } = await sidecar.admin('tenant-a').createWebhook({
      url: receiver.url,
      eventTypes: ['user.login'],
      description: 'login audit',
      organizationIds: [],
    });
    expect(secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const occurredAt = new Date('2026-11-27T10:00:00.000Z');
    const login = await sidecar.ingest.publishEvent({
      event: { id: 'evt-a-1', tenantId: 'tenant-a', type: 'user.login', occurredAt, organizationId: 'org-1', data: { user_id: 'u-1', email: 'ada@example.com' } },
    });
    expect(login.result).to.include({ eventId: 'evt-a-1', duplicate: false, deliveryCount: 1 });
    const mfa = await sidecar.ingest.publishEvent({
      event: { id: 'evt-a-2', tenantId: 'tenant-a', type: 'mfa.enabled', occurredAt, organizationId: '', data: { user_id: 'u-1', method: 'totp' } },
    });
    expect(mfa.result!.deliveryCount).to.equal(0);
    const other = await sidecar.ingest.publishEvent({
      event: { id: 'evt-b-1', tenantId: 'tenant-b', type: 'user.login', occurredAt, organizationId: '', data: { user_id: 'u-9' } },
    });
    expect(other.result!.deliveryCount).to.equal(0);

    const [request] = await receiver.waitForRequests(1);
    const deliveries = await sidecar.admin('tenant-a').listDeliveries({ webhookId: webhook!.id, status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '' });
    await waitUntil(async () => {
      const { delivery } = await sidecar.admin('tenant-a').getDelivery({ id: deliveries.deliveries[0]!.id });
      return delivery!.status === DeliveryStatus.DELIVERY_STATUS_SUCCEEDED;
    }, 'the delivery to be recorded as succeeded');

    expect(request!.method).to.equal('POST');
    expect(request!.headers['content-type']).to.equal('application/json');
    expect(request!.headers['webhook-id']).to.equal(deliveries.deliveries[0]!.id);
    const verified = new StandardWebhook(secret).verify(request!.body, {
      'webhook-id': request!.headers['webhook-id'] as string,
      'webhook-timestamp': request!.headers['webhook-timestamp'] as string,
      'webhook-signature': request!.headers['webhook-signature'] as string,
    });
    expect(verified).to.deep.equal({
      id: 'evt-a-1',
      type: 'user.login',
      timestamp: '2026-11-27T10:00:00.000Z',
      tenant_id: 'tenant-a',
      organization: { id: 'org-1' },
      data: { user_id: 'u-1', email: 'ada@example.com' },
    });

    const { delivery, attempts } = await sidecar.admin('tenant-a').getDelivery({ id: deliveries.deliveries[0]!.id });
    expect(delivery).to.include({ eventId: 'evt-a-1', eventType: 'user.login', attemptCount: 1, lastStatusCode: 200, lastError: '' });
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ attemptNumber: 1, statusCode: 200, responseBody: 'ok', errorClass: '' });
    expect(attempts[0]!.responseHeaders['content-type']).to.equal('text/plain');

    // Nothing else arrives: the other tenant's login and the unsubscribed mfa event create no
    // deliveries at all, so there is nothing in flight to wait for.
    const all = await sidecar.admin('tenant-b').listDeliveries({ webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '' });
    expect(all.deliveries).to.have.length(0);
    expect(receiver.requests).to.have.length(1);
  });
});
