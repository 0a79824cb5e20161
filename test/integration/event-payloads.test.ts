/**
 * Event bodies in event_payloads, on each database (the event_payloads migration and
 * WEBHOOKS_EVENT_BODIES=separate):
 * - ingest and SendTestEvent store bodies apart, and receivers get them, signed;
 * - an upgrade over rows the previous version wrote: their bodies stay in events and are still
 *   sent, as are the new rows' bodies, each with its trace context;
 * - a delivery whose body is missing fails before sending, rather than going out empty;
 * - retention takes a body with its event, and keeps both while a delivery needs them;
 * - the migration's down puts the bodies back into events;
 * - the default, auto, stores bodies apart on a database migrated with event_payloads from the
 *   start, and in events on one migrated up to it, where pods of an earlier build may still run.
 */
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { ulid } from 'ulid';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { MIGRATOR_CONFIG } from '../../src/db/migrate';
import { ListDeliveriesRequest, UpdateWebhookRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { deliveryRow, insertEvents } from '../../src/ingest/outbox-rows';
import type { ValidEvent } from '../../src/ingest/validate-event';
import { claimDue } from '../../src/outbox/claim';
import { purgeOnce } from '../../src/outbox/retention';
import { forEachDatabase } from '../support/databases';
import { migrateUp, rollBackThrough } from '../support/migrations';
import { TestReceiver } from '../support/receiver';
import { startSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const EVENT_PAYLOADS = '20261204000000_event_payloads.js';
const DAY_MS = 86_400_000;
const TRACE_OLD = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACE_NEW = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const event = (id: string, at: number, traceContext: string | null = null): ValidEvent => ({
  tenantId: 'tenant-a', id, type: 'user.login', organizationId: null, occurredAt: at,
  payload: JSON.stringify({ id, data: { user_id: `u-${id}` } }), traceContext,
});

forEachDatabase('event payloads', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  it('stores ingested and test events\' bodies apart with WEBHOOKS_EVENT_BODIES=separate, and sends them signed', async () => {
    const sidecar = await startSidecar(await database.create(), { WEBHOOKS_EVENT_BODIES: 'separate' });
    const receiver = await TestReceiver.start();
    try {
      const { webhook, secret } = await sidecar.admin('tenant-a').createWebhook({
        url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [],
      });
      const occurredAt = new Date('2026-12-03T10:00:00.000Z');
      await sidecar.ingest.publishEvent({
        event: { id: 'evt-1', tenantId: 'tenant-a', type: 'user.login', occurredAt, organizationId: '', data: { user_id: 'u-1' } },
      });
      await sidecar.admin('tenant-a').sendTestEvent({ webhookId: webhook!.id, data: undefined });
      const requests = await receiver.waitForRequests(2);
      const bodies = requests.map((r) => {
        new StandardWebhook(secret).verify(r.body, {
          'webhook-id': r.headers['webhook-id'] as string,
          'webhook-timestamp': r.headers['webhook-timestamp'] as string,
          'webhook-signature': r.headers['webhook-signature'] as string,
        });
        return JSON.parse(r.body) as { type: string; data: Record<string, unknown> };
      });
      expect(bodies.map((b) => b.type).sort()).to.deep.equal(['user.login', 'webhook.test']);
      expect(bodies.find((b) => b.type === 'user.login')!.data).to.deep.equal({ user_id: 'u-1' });
      // No body in the events rows: each is in event_payloads, under its row's payload_id.
      const rows = (await sidecar.app.db('events as e')
        .leftJoin('event_payloads as p', 'p.id', 'e.payload_id')
        .select('e.payload as inline', 'p.payload as apart')) as Array<{ inline: string | null; apart: string | null }>;
      expect(rows).to.have.length(2);
      for (const row of rows) {
        expect(row.inline).to.equal(null);
        expect(requests.map((r) => r.body)).to.include(row.apart);
      }
    } finally {
      await sidecar.stop();
      await receiver.close();
    }
  });

  describe('WEBHOOKS_EVENT_BODIES=auto, the default', () => {
    /** Publishes one event through a sidecar with the default setting; its stored row and what the receiver got. */
    async function publishOne(url: string): Promise<{ inline: string | null; apart: string | null; received: string }> {
      const sidecar = await startSidecar(url);
      const receiver = await TestReceiver.start();
      try {
        await sidecar.admin('tenant-a').createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
        await sidecar.ingest.publishEvent({
          event: { id: 'evt-auto', tenantId: 'tenant-a', type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-auto' } },
        });
        const [request] = await receiver.waitForRequests(1);
        const row = (await sidecar.app.db('events as e')
          .leftJoin('event_payloads as p', 'p.id', 'e.payload_id')
          .where('e.id', 'evt-auto')
          .first('e.payload as inline', 'p.payload as apart')) as { inline: string | null; apart: string | null };
        expect((JSON.parse(request!.body) as { data: unknown }).data).to.deep.equal({ user_id: 'u-auto' });
        return { ...row, received: request!.body };
      } finally {
        await sidecar.stop();
        await receiver.close();
      }
    }

    it('stores bodies apart on a database that had event_payloads from its first migration', async () => {
      const { inline, apart, received } = await publishOne(await database.create());
      expect(inline).to.equal(null);
      expect(apart).to.equal(received);
    });

    it('keeps bodies in events on a database migrated up to event_payloads, where pods of an earlier build may run', async () => {
      const url = await database.create();
      db = connect(parseDbUrl(url));
      await db.migrate.latest(MIGRATOR_CONFIG);
      expect(await rollBackThrough(db, EVENT_PAYLOADS)).to.include(EVENT_PAYLOADS);
      // As an upgrade applies it: in a later batch than the database's first migrations.
      expect((await migrateUp(db))[0]).to.equal(EVENT_PAYLOADS);
      const { inline, apart, received } = await publishOne(url);
      expect(inline).to.equal(received);
      expect(apart).to.equal(null);
    });
  });

  it('records a failed attempt and sends nothing when an event body is missing', async () => {
    const sidecar = await startSidecar(await database.create(), { WEBHOOKS_EVENT_BODIES: 'separate' });
    const receiver = await TestReceiver.start();
    try {
      const admin = sidecar.admin('tenant-a');
      const { webhook } = await admin.createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
      const setEnabled = (enabled: boolean) =>
        admin.updateWebhook(UpdateWebhookRequest.fromPartial({ webhook: { id: webhook!.id, enabled }, updateMask: ['enabled'] }));
      // Paused while disabled, so the delivery is read back from the database when it goes out.
      await setEnabled(false);
      await sidecar.ingest.publishEvent({
        event: { id: 'evt-1', tenantId: 'tenant-a', type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
      });
      expect(await sidecar.app.db('event_payloads').delete()).to.equal(1);
      await setEnabled(true);

      const [listed] = (await admin.listDeliveries(ListDeliveriesRequest.fromPartial({ webhookId: webhook!.id, pageSize: 10 }))).deliveries;
      let message = '';
      await waitUntil(async () => {
        const { attempts } = await admin.getDelivery({ id: listed!.id });
        message = attempts[0]?.errorMessage ?? '';
        return attempts.length > 0;
      }, 'the first attempt to be recorded');
      expect(message).to.equal('the event body is missing from the database');
      expect(receiver.requests).to.have.length(0);
    } finally {
      await sidecar.stop();
      await receiver.close();
    }
  });

  it('sends bodies stored in events before the upgrade and in event_payloads after it, and puts them back on the way down', async () => {
    db = connect(parseDbUrl(await database.create()));
    await db.migrate.latest(MIGRATOR_CONFIG);
    expect(await rollBackThrough(db, EVENT_PAYLOADS)).to.include(EVENT_PAYLOADS);
    const now = Date.now();
    // As the previous version wrote an event: its body in events.
    const old = event('e-old', now, TRACE_OLD);
    await db('events').insert({
      tenant_id: old.tenantId, id: old.id, type: old.type, organization_id: null, occurred_at: now, created_at: now,
      delivery_count: 1, payload: old.payload, trace_context: TRACE_OLD,
    });
    await db('deliveries').insert(deliveryRow(old, 'wh_1', now));

    expect((await migrateUp(db))[0]).to.equal(EVENT_PAYLOADS);
    const fresh = event('e-new', now, TRACE_NEW);
    await insertEvents(db, [fresh], 1, now, true);
    await db('deliveries').insert(deliveryRow(fresh, 'wh_1', now));
    // The new event's row holds no body; the body is in event_payloads, under the row's payload_id.
    const row = (await db('events').where({ id: 'e-new' }).first('payload', 'payload_id')) as { payload: string | null; payload_id: string };
    expect(row.payload).to.equal(null);
    expect(await db('event_payloads').where({ id: row.payload_id }).pluck('payload')).to.deep.equal([fresh.payload]);

    const claimed = await claimDue(db, { limit: 10, leaseMs: 60_000, now });
    const sent = Object.fromEntries(claimed.map((c) => [c.eventId, [c.payload, c.traceContext]]));
    expect(sent).to.deep.equal({ 'e-old': [old.payload, TRACE_OLD], 'e-new': [fresh.payload, TRACE_NEW] });

    expect(await rollBackThrough(db, EVENT_PAYLOADS)).to.include(EVENT_PAYLOADS);
    const back = (await db('events').select('id', 'payload', 'trace_context').orderBy('id')) as Array<Record<string, unknown>>;
    expect(back.map((r) => ({ ...r }))).to.deep.equal([
      { id: 'e-new', payload: fresh.payload, trace_context: TRACE_NEW },
      { id: 'e-old', payload: old.payload, trace_context: TRACE_OLD },
    ]);
  });

  it('purges a body with its event, and keeps both while a delivery is pending', async () => {
    db = connect(parseDbUrl(await database.create()));
    await db.migrate.latest(MIGRATOR_CONFIG);
    const now = Date.now();
    const old = now - 40 * DAY_MS;
    const done = event('e-done', old);
    const pending = event('e-pending', old);
    await insertEvents(db, [done, pending], 1, old, true);
    await db('deliveries').insert([
      // Its id made when it was, 40 days ago: retention walks delivery ids in time order.
      { ...deliveryRow(done, 'wh_1', old), id: `msg_${ulid(old)}`, status: 'succeeded', next_attempt_at: null, completed_at: old + 1_000 },
      deliveryRow(pending, 'wh_1', old),
    ]);
    const bodyOf = async (id: string) =>
      (await db!('events as e').join('event_payloads as p', 'p.id', 'e.payload_id').where('e.id', id).pluck('p.payload')) as string[];

    for (let n = await purgeOnce(db, now - 30 * DAY_MS); n > 0; n = await purgeOnce(db, now - 30 * DAY_MS));
    expect(await db('events').pluck('id')).to.deep.equal(['e-pending']);
    expect(await bodyOf('e-pending')).to.deep.equal([pending.payload]);
    // Nothing left over: one event, one body.
    expect(Number((await db('event_payloads').count({ n: '*' }))[0]!.n)).to.equal(1);
  });
});
