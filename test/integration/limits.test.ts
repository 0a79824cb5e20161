/**
 * Limits without a test elsewhere, on each database: the 101st webhook of a tenant (or of the
 * platform) is RESOURCE_EXHAUSTED, also when creates race for the last places, and so is a gRPC message over 8 MiB, while one of 6 MB (over
 * gRPC's own 4 MiB default) goes through. Refused calls write nothing. The other limits (event
 * size, batch size, event types, organization ids, URL length, page size) are in the bad-input
 * tests.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { MAX_RECEIVE_MESSAGE_BYTES } from '../../src/grpc/server';
import { MAX_WEBHOOKS_PER_TENANT } from '../../src/management/webhooks';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const hook = { url: 'https://hooks.example.com/in', eventTypes: ['user.login'], description: '', organizationIds: [] };

function login(id: string, padding: number): Event {
  return { id, tenantId: 'tenant-big', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1', note: 'x'.repeat(padding) } };
}

forEachDatabase('limits', (database) => {
  let sidecar: TestSidecar;

  beforeEach(async () => {
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}` });
  });

  afterEach(() => sidecar.stop());

  async function rows(table: string, where: Record<string, string> = {}): Promise<number> {
    return Number(((await sidecar.app.db(table).where(where).count({ n: '*' }).first()) as { n: number | string }).n);
  }

  it(`refuses the webhook after ${MAX_WEBHOOKS_PER_TENANT} with RESOURCE_EXHAUSTED, per tenant and for the platform`, async () => {
    expect(MAX_WEBHOOKS_PER_TENANT).to.equal(100);
    const a = sidecar.admin('tenant-a');
    const ids: string[] = [];
    for (let i = 0; i < MAX_WEBHOOKS_PER_TENANT; i += 1) ids.push((await a.createWebhook(hook)).webhook!.id);

    const err = await rejectionOf(a.createWebhook(hook));
    expect(err.code, err.details).to.equal(status.RESOURCE_EXHAUSTED);
    expect(err.details).to.include('100');
    expect(await rows('webhooks', { tenant_id: 'tenant-a' })).to.equal(100);
    expect(await rows('webhook_stats', { tenant_id: 'tenant-a' })).to.equal(100);
    // Another tenant has its own allowance; a deleted webhook frees a place.
    await sidecar.admin('tenant-b').createWebhook(hook);
    await a.deleteWebhook({ id: ids[0]! });
    await a.createWebhook(hook);

    const platform = sidecar.platform();
    for (let i = 0; i < MAX_WEBHOOKS_PER_TENANT; i += 1) await platform.createWebhook(hook);
    expect((await rejectionOf(platform.createWebhook(hook))).code).to.equal(status.RESOURCE_EXHAUSTED);
  });

  it('does not let concurrent creates together pass the limit', async function () {
    this.timeout(60_000);
    const a = sidecar.admin('tenant-race');
    for (let i = 0; i < MAX_WEBHOOKS_PER_TENANT - 5; i += 1) await a.createWebhook(hook);
    // 20 creates at once for the last 5 places: without a count under a lock, each would count 95.
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () =>
        a.createWebhook(hook).then(
          () => 'created',
          (err: { code?: number }) => (err.code === status.RESOURCE_EXHAUSTED ? 'exhausted' : `error ${String(err.code)}`),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'created')).to.have.length(5);
    expect(outcomes.filter((o) => o === 'exhausted')).to.have.length(15);
    expect(await rows('webhooks', { tenant_id: 'tenant-race' })).to.equal(MAX_WEBHOOKS_PER_TENANT);
    expect(await rows('webhook_stats', { tenant_id: 'tenant-race' })).to.equal(MAX_WEBHOOKS_PER_TENANT);
  });

  it("creates every webhook when a new tenant's first creates race, beside another new tenant's", async () => {
    // An empty tenant has no webhook row to lock, only the gap where its rows would go, and every
    // racer can hold that gap at once: each create must still land, not fail as a deadlock victim.
    const creates = ['tenant-new-a', 'tenant-new-b'].flatMap((tenant) =>
      Array.from({ length: 12 }, () => sidecar.admin(tenant).createWebhook(hook).then((r) => r.webhook!.tenantId)),
    );
    const created = await Promise.allSettled(creates);
    const failures = created.flatMap((c) => (c.status === 'rejected' ? [String((c.reason as Error).message)] : []));
    expect(failures).to.deep.equal([]);
    expect(await rows('webhooks', { tenant_id: 'tenant-new-a' })).to.equal(12);
    expect(await rows('webhooks', { tenant_id: 'tenant-new-b' })).to.equal(12);
    expect(await rows('webhook_stats')).to.equal(24);
  });

  it('holds the limit when more creates than it allows race in a tenant that has no webhook yet', async function () {
    this.timeout(60_000);
    // No webhook row yet when they start: each count must wait for the inserts under way.
    const a = sidecar.admin('tenant-empty');
    const outcomes = await Promise.all(
      Array.from({ length: MAX_WEBHOOKS_PER_TENANT + 10 }, () =>
        a.createWebhook(hook).then(
          () => 'created',
          (err: { code?: number }) => (err.code === status.RESOURCE_EXHAUSTED ? 'exhausted' : `error ${String(err.code)}`),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'created')).to.have.length(MAX_WEBHOOKS_PER_TENANT);
    expect(outcomes.filter((o) => o === 'exhausted')).to.have.length(10);
    expect(await rows('webhooks', { tenant_id: 'tenant-empty' })).to.equal(MAX_WEBHOOKS_PER_TENANT);
  });

  it('refuses a message over 8 MiB with RESOURCE_EXHAUSTED and stores none of it', async () => {
    expect(MAX_RECEIVE_MESSAGE_BYTES).to.equal(8 * 1024 * 1024);
    // 140 events of 60 KB each: every event is within its own limit, the message is not.
    const events = Array.from({ length: 140 }, (_, i) => login(`big-${i}`, 60_000));
    const err = await rejectionOf(sidecar.ingest.publishEvents({ events }));
    expect(err.code, err.details).to.equal(status.RESOURCE_EXHAUSTED);
    const single = await rejectionOf(sidecar.admin('tenant-big').createWebhook({ ...hook, description: 'd'.repeat(9 * 1024 * 1024) }));
    expect(single.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(await rows('events')).to.equal(0);
    expect(await rows('webhooks')).to.equal(0);
  });

  it("accepts a 6 MB message, over gRPC's 4 MiB default, whose events are each within the event limit", async () => {
    const events = Array.from({ length: 100 }, (_, i) => login(`ok-${i}`, 60_000));
    const { results } = await sidecar.ingest.publishEvents({ events });
    expect(results.filter((r) => r.error === undefined)).to.have.length(100);
    expect(await rows('events')).to.equal(100);
  });

  // MariaDB refuses a statement over max_allowed_packet (16 MiB by default) by resetting the
  // connection; SQLite has no such limit.
  if (database.name === 'mysql') {
    it('commits concurrent calls of 1 MB events together, over max_allowed_packet, when WEBHOOKS_MAX_EVENT_BYTES allows them', async () => {
      await sidecar.stop();
      sidecar = await startSidecar(await database.create(), { WEBHOOKS_MAX_EVENT_BYTES: '1048576' });
      // 3 calls of 7 events of 1 MB: each call within the 8 MiB message limit, together 21 MB.
      const calls = [0, 1, 2].map((c) =>
        sidecar.ingest.publishEvents({ events: Array.from({ length: 7 }, (_, i) => login(`mb-${c}-${i}`, 1_000_000)) }),
      );
      const answers = await Promise.all(calls);
      for (const { results } of answers) {
        expect(results.map((r) => r.error?.message ?? 'ok')).to.deep.equal(Array(7).fill('ok'));
      }
      expect(await rows('events')).to.equal(21);
    });

    it('stores one call of 1 MB events whose SQL text, escaped, is over max_allowed_packet', async () => {
      await sidecar.stop();
      sidecar = await startSidecar(await database.create(), { WEBHOOKS_MAX_EVENT_BYTES: '1048576' });
      // Each body is about 990 KB of JSON, nearly all \" escapes, which SQL text doubles again:
      // ten of them are one transaction of about 20 MB as text, its inserts held for the COMMIT.
      const quotes = (id: string): Event => ({ ...login(id, 0), data: { user_id: 'u-1', note: '"'.repeat(495_000) } });
      const { results } = await sidecar.ingest.publishEvents({ events: Array.from({ length: 10 }, (_, i) => quotes(`q-${i}`)) });
      expect(results.map((r) => r.error?.message ?? 'ok')).to.deep.equal(Array(10).fill('ok'));
      expect(await rows('events')).to.equal(10);
    });
  }
});
