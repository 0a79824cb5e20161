/**
 * One tenant's slow endpoints must not stop the other tenants' deliveries. A tenant admin can
 * create many webhooks on a receiver that accepts requests and never answers, and fill the queue
 * for them: each attempt then holds a delivery slot for the whole request timeout. Capped only
 * per webhook, a dozen such webhooks took every slot, and their backlog, older than anything
 * another tenant published, filled every claim: the audit saw another tenant's event not
 * delivered within 90 s. With a cap per tenant (WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT), the others
 * keep the rest of the slots, and the claims pass over the capped tenant's rows.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { HoldingReceiver } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

/** Eight slots, two per webhook, four per tenant (half the slots, the default). */
const ENV = {
  WEBHOOKS_DELIVERY_CONCURRENCY: '8',
  WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '2',
  WEBHOOKS_REQUEST_TIMEOUT_MS: '5000',
  WEBHOOKS_MAX_RETRIES: '0',
  WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}`,
};
const TENANT_CAP = 4;
const HANGING_WEBHOOKS = 6;
/** Well under one request timeout: no delivery may wait for a hanging attempt to end. */
const PROMPTLY_MS = 2_000;

forEachDatabase('delivery: per-tenant fairness', (database) => {
  let sidecar: TestSidecar;
  let tarpit: HoldingReceiver;
  let healthy: TestReceiver;

  beforeEach(async () => {
    sidecar = await startSidecar(await database.create(), ENV);
    tarpit = await HoldingReceiver.start();
    healthy = await TestReceiver.start();
  });

  afterEach(async () => {
    await tarpit.close(); // cut first: the sidecar's stop would wait for its attempts
    await sidecar.stop();
    await healthy.close();
  });

  const hook = (url: string) => ({ url, eventTypes: ['*'], description: '', organizationIds: [] });
  const event = (tenantId: string, id: string) => ({
    id, tenantId, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
  });

  /** The evil tenant: hanging webhooks with a backlog of many times the slots, all sending. */
  async function hangEvilTenant(): Promise<void> {
    for (let i = 0; i < HANGING_WEBHOOKS; i++) await sidecar.admin('evil').createWebhook(hook(tarpit.url(`/t${i}`)));
    await sidecar.ingest.publishEvents({ events: Array.from({ length: 20 }, (_, i) => event('evil', `evil-${i}`)) });
    await waitUntil(() => tarpit.heldCount >= TENANT_CAP, 'the hanging tenant to hold its attempts open');
  }

  it("delivers another tenant's event promptly while one tenant's hanging webhooks have a backlog", async function () {
    this.timeout(60_000);
    await sidecar.admin('good').createWebhook(hook(healthy.url));
    await hangEvilTenant();

    const publishedAt = Date.now();
    await sidecar.ingest.publishEvent({ event: event('good', 'good-1') });
    await healthy.waitForRequests(1, PROMPTLY_MS);
    expect(Date.now() - publishedAt).to.be.below(PROMPTLY_MS);
    expect(tarpit.heldCount, 'attempts of the hanging tenant in flight').to.equal(TENANT_CAP);
  });

  it("counts a platform webhook as a tenant of its own: it gets the hanging tenant's events promptly", async function () {
    this.timeout(60_000);
    await sidecar.platform().createWebhook(hook(healthy.url));
    await hangEvilTenant();
    // Already delivered, or queued behind the hanging tenant's attempts under the old code.
    const before = healthy.requests.length;

    await sidecar.ingest.publishEvent({ event: event('evil', 'evil-late') });
    await waitUntil(() => healthy.requests.some((r) => r.body.includes('evil-late')), 'the platform webhook to get the late event', PROMPTLY_MS);
    expect(healthy.requests.length).to.be.above(before);
    expect(tarpit.heldCount, 'attempts of the hanging tenant in flight').to.equal(TENANT_CAP);
  });
});
