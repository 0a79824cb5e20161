/**
 * EventIngest on each database: dedupe on (tenant_id, id), fan-out to the matching webhooks of the
 * tenant (exact types, category wildcards, "*", organizations, enabled), batches and the stream.
 */
import type { StatusObject } from '@grpc/grpc-js';
import { expect } from 'chai';
import knex, { type Knex } from 'knex';
import type { Event, EventResult } from '../../src/grpc/generated/webhooks/v1/event';
import type { StreamEventsResponse } from '../../src/grpc/generated/webhooks/v1/ingest';
import { DeliveryStatus } from '../../src/grpc/generated/webhooks/v1/management';
import { storeEvents } from '../../src/ingest/event-store';
import { eventRow } from '../../src/ingest/outbox-rows';
import { forEachDatabase } from '../support/databases';
import { metadataOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';

function login(id: string, extra: Partial<Event> = {}): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' }, ...extra };
}

forEachDatabase('event ingest', (database) => {
  let sidecar: TestSidecar;
  let dbUrl: string;
  const receivers: TestReceiver[] = [];

  beforeEach(async () => {
    dbUrl = await database.create();
    sidecar = await startSidecar(dbUrl);
  });

  afterEach(async () => {
    await sidecar.stop();
    for (const r of receivers.splice(0)) await r.close();
  });

  async function hook(eventTypes: string[], organizationIds: string[] = [], tenantId = TENANT) {
    const receiver = await TestReceiver.start();
    receivers.push(receiver);
    const { webhook } = await sidecar.admin(tenantId).createWebhook({ url: receiver.url, eventTypes, description: '', organizationIds });
    return { webhook: webhook!, receiver };
  }

  async function rows(table: string, where: Record<string, string> = {}): Promise<number> {
    const row = (await sidecar.app.db(table).where(where).count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  }

  async function publish(event: Event): Promise<EventResult> {
    return (await sidecar.ingest.publishEvent({ event })).result!;
  }

  /** Every delivery is finished, so no further POST can come and receivers can be counted. */
  async function allSucceeded(count: number): Promise<void> {
    await waitUntil(async () => (await rows('deliveries', { status: 'succeeded' })) === count, `${count} succeeded deliveries`);
    expect(await rows('deliveries'), 'every delivery row').to.equal(count);
  }

  describe('dedupe on (tenant_id, id)', () => {
    it('answers a repeat with the original result and stores nothing new', async () => {
      const { receiver } = await hook(['user.*']);
      expect(await publish(login('evt-1'))).to.include({ eventId: 'evt-1', duplicate: false, deliveryCount: 1 });
      const again = await publish(login('evt-1', { data: { user_id: 'u-other' } }));
      expect(again).to.include({ eventId: 'evt-1', duplicate: true, deliveryCount: 1 });
      expect(again.error).to.equal(undefined);

      // A webhook created since does not turn the repeat into a new fan-out.
      await hook(['*']);
      expect(await publish(login('evt-1'))).to.include({ duplicate: true, deliveryCount: 1 });
      expect(await rows('events')).to.equal(1);
      // The body where the default layout keeps it on a new database: event_payloads.
      const stored = (await sidecar.app.db('events as e')
        .join('event_payloads as p', 'p.id', 'e.payload_id')
        .where({ 'e.tenant_id': TENANT, 'e.id': 'evt-1' })
        .first('p.payload')) as { payload: string };
      expect(JSON.parse(stored.payload).data).to.deep.equal({ user_id: 'u-1' });
      await allSucceeded(1);
      expect(receiver.requests).to.have.length(1);
      expect(JSON.parse(receiver.requests[0]!.body).data).to.deep.equal({ user_id: 'u-1' });
    });

    it('treats the same id in two tenants as two events', async () => {
      await hook(['user.login'], [], 'tenant-a');
      await hook(['user.login'], [], 'tenant-b');
      expect(await publish(login('evt-1', { tenantId: 'tenant-a' }))).to.include({ duplicate: false, deliveryCount: 1 });
      expect(await publish(login('evt-1', { tenantId: 'tenant-b' }))).to.include({ duplicate: false, deliveryCount: 1 });
      expect(await rows('events', { id: 'evt-1' })).to.equal(2);
      expect(await rows('deliveries', { tenant_id: 'tenant-a', event_id: 'evt-1' })).to.equal(1);
      expect(await rows('deliveries', { tenant_id: 'tenant-b', event_id: 'evt-1' })).to.equal(1);
    });

    // SQLite writes one transaction at a time, so only MySQL has two batches of one id in flight.
    if (database.name === 'mysql') {
      /** Until an INSERT into events is under way (waiting on a row lock) in the blocker's database. */
      const untilInsertWaits = (blocker: Knex, what: string): Promise<void> =>
        waitUntil(async () => {
          const [rows] = (await blocker.raw(
            "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info LIKE 'insert into `events`%' AND state = 'update'",
          )) as [Array<{ n: number }>];
          return Number(rows[0]!.n) > 0;
        }, what);

      it('stores the first submission of an id as the original while a later one waits', async () => {
        await hook(['user.login']);
        const blocker = knex({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: 2 } });
        // An uncommitted row holds the lock that the first batch, [evt-x, evt-1], waits on.
        const trx = await blocker.transaction();
        try {
          const x = { tenantId: TENANT, id: 'evt-x', type: 'user.login', organizationId: null, occurredAt: 0, payload: '{}' };
          await trx('events').insert(eventRow(x, 0, Date.now()).event);
          const first = sidecar.ingest.publishEvents({ events: [login('evt-x'), login('evt-1')] });
          await untilInsertWaits(blocker, 'the first batch to insert, and wait on the lock');
          const repeat = publish(login('evt-1'));
          // An event sent after the repeat commits first: the repeat would have gone with it.
          expect(await publish(login('evt-2'))).to.include({ duplicate: false, deliveryCount: 1 });
          await trx.rollback();

          const { results } = await first;
          expect(results.map((r) => [r.eventId, r.duplicate, r.deliveryCount])).to.deep.equal([
            ['evt-x', false, 1],
            ['evt-1', false, 1],
          ]);
          expect(await repeat).to.include({ eventId: 'evt-1', duplicate: true, deliveryCount: 1 });
          expect(await rows('deliveries', { event_id: 'evt-1' })).to.equal(1);
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
          await blocker.destroy();
        }
      });

      it('answers as duplicates the ids another replica commits between its read and its write', async () => {
        const blocker = knex({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: 2 } });
        const row = (id: string) => eventRow({ tenantId: TENANT, id, type: 'user.login', organizationId: null, occurredAt: 0, payload: '{}' }, 0, Date.now()).event;
        const valid = (id: string) => ({ tenantId: TENANT, id, type: 'user.login', organizationId: null, occurredAt: Date.now(), payload: '{}' });
        await blocker('events').insert(row('evt-x'));
        // evt-y is not committed yet: the run that reads which ids exist finds evt-x only.
        const trx = await blocker.transaction();
        try {
          await trx('events').insert(row('evt-y'));
          // The first run fails on evt-x; the second reads, then waits on evt-y's lock.
          const stored = storeEvents(sidecar.app.db, [valid('evt-x'), valid('evt-y')], Date.now());
          stored.catch(() => undefined); // awaited below
          await untilInsertWaits(blocker, 'the run that read the stored ids to insert evt-y, and wait on it');
          await trx.commit(); // the other replica's evt-y: the second run fails on it too
          expect((await stored).map((s) => [s.eventId, s.duplicate])).to.deep.equal([
            ['evt-x', true],
            ['evt-y', true],
          ]);
          expect(await rows('events')).to.equal(2);
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
          await blocker.destroy();
        }
      });

      it('runs a batch again when InnoDB picks it as a deadlock victim, instead of failing its calls', async () => {
        await hook(['user.login']);
        const blocker = knex({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: 2 } });
        const trx = await blocker.transaction();
        try {
          const row = (id: string) => eventRow({ tenantId: TENANT, id, type: 'user.login', organizationId: null, occurredAt: 0, payload: '{}' }, 0, Date.now()).event;
          // Many rows make the blocker the heavier transaction, so InnoDB rolls back the batch.
          await trx('events').insert(Array.from({ length: 200 }, (_, i) => row(`other-${i}`)));
          await trx('events').insert(row('evt-b'));
          // The batch inserts evt-a, then waits on evt-b; the blocker then waits on evt-a: a cycle.
          const batch = sidecar.ingest.publishEvents({ events: [login('evt-a'), login('evt-b')] });
          await untilInsertWaits(blocker, 'the batch to wait on evt-b');
          await trx('events').insert(row('evt-a'));
          await trx.rollback();

          const { results } = await batch;
          expect(results.map((r) => [r.eventId, r.duplicate, r.deliveryCount, r.error?.message ?? null])).to.deep.equal([
            ['evt-a', false, 1, null],
            ['evt-b', false, 1, null],
          ]);
          expect(await rows('deliveries')).to.equal(2);
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
          await blocker.destroy();
        }
      });
    }

    it('finds duplicates within one PublishEvents batch and against stored events', async () => {
      await hook(['user.login']);
      await publish(login('evt-0'));
      const { results } = await sidecar.ingest.publishEvents({
        events: [login('evt-1'), login('evt-2'), login('evt-1'), login('evt-0'), login('evt-2', { data: { user_id: 'u-9' } })],
      });
      expect(results.map((r) => [r.eventId, r.duplicate, r.deliveryCount])).to.deep.equal([
        ['evt-1', false, 1],
        ['evt-2', false, 1],
        ['evt-1', true, 1],
        ['evt-0', true, 1],
        ['evt-2', true, 1],
      ]);
      expect(await rows('events')).to.equal(3);
      expect(await rows('deliveries')).to.equal(3);
    });

    it('stores one event when identical calls race', async () => {
      await hook(['user.login']);
      const results = await Promise.all(Array.from({ length: 10 }, () => publish(login('evt-race'))));
      expect(results.filter((r) => !r.duplicate)).to.have.length(1);
      expect(results.map((r) => [r.eventId, r.deliveryCount])).to.deep.equal(Array(10).fill(['evt-race', 1]));
      expect(await rows('events')).to.equal(1);
      expect(await rows('deliveries')).to.equal(1);

      // Overlapping batches racing: each id is new in exactly one answer.
      const ids = Array.from({ length: 10 }, (_, i) => `evt-batch-${i}`);
      const batches = await Promise.all(
        Array.from({ length: 5 }, () => sidecar.ingest.publishEvents({ events: ids.map((id) => login(id)) })),
      );
      const fresh = batches.flatMap((b) => b.results.filter((r) => !r.duplicate).map((r) => r.eventId));
      expect(fresh.sort()).to.deep.equal([...ids].sort());
      expect(await rows('events')).to.equal(11);
      expect(await rows('deliveries')).to.equal(11);
    });

    it('generates an evt_ id when the id is empty, a new one each time', async () => {
      const { receiver } = await hook(['user.login']);
      const first = await publish(login(''));
      const second = await publish(login(''));
      expect(first.eventId).to.match(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(second.eventId).to.match(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(second.eventId).to.not.equal(first.eventId);
      expect([first.duplicate, second.duplicate]).to.deep.equal([false, false]);
      expect(await rows('events', { id: first.eventId })).to.equal(1);
      await allSucceeded(2);
      expect(receiver.requests.map((r) => JSON.parse(r.body).id).sort()).to.deep.equal([first.eventId, second.eventId].sort());
    });
  });

  describe('fan-out', () => {
    it('creates one delivery per matching webhook and each receiver gets one POST', async () => {
      const matching = await Promise.all([
        hook(['user.login']),
        hook(['user.*']),
        hook(['*']),
        hook(['mfa.enabled', 'user.login', 'user.*']),
      ]);
      const missing = await Promise.all([hook(['user.logout']), hook(['security.*']), hook(['user.login'], [], 'tenant-b')]);
      expect(await publish(login('evt-1'))).to.include({ duplicate: false, deliveryCount: 4 });
      await allSucceeded(4);

      const ids = new Set<string>();
      for (const { webhook, receiver } of matching) {
        expect(receiver.requests, webhook.eventTypes.join()).to.have.length(1);
        const delivery = (await sidecar.app.db('deliveries').where({ webhook_id: webhook.id }).first()) as { id: string };
        expect(receiver.requests[0]!.headers['webhook-id']).to.equal(delivery.id);
        expect(JSON.parse(receiver.requests[0]!.body)).to.include({ id: 'evt-1', type: 'user.login' });
        ids.add(delivery.id);
      }
      expect(ids.size).to.equal(4);
      for (const { webhook, receiver } of missing) {
        expect(await rows('deliveries', { webhook_id: webhook.id }), webhook.eventTypes.join()).to.equal(0);
        expect(receiver.requests).to.have.length(0);
      }
    });

    it('gives a webhook narrowed to organizations only the events of those organizations', async () => {
      const narrowed = await hook(['user.login', 'organization.*'], ['org-1']);
      const everyOrg = await hook(['user.login', 'organization.*']);
      expect(await publish(login('evt-org-1', { organizationId: 'org-1' }))).to.include({ deliveryCount: 2 });
      expect(await publish(login('evt-org-2', { organizationId: 'org-2' }))).to.include({ deliveryCount: 1 });
      expect(await publish(login('evt-no-org'))).to.include({ deliveryCount: 1 });
      const added = { type: 'organization.user_added', organizationId: 'org-2', data: { user_id: 'u-1' } };
      expect(await publish(login('evt-added-2', added))).to.include({ deliveryCount: 1 });
      expect(await publish(login('evt-added-1', { ...added, organizationId: 'org-1' }))).to.include({ deliveryCount: 2 });

      const ofNarrowed = await sidecar.app.db('deliveries').where({ webhook_id: narrowed.webhook.id }).pluck('event_id');
      expect(ofNarrowed.sort()).to.deep.equal(['evt-added-1', 'evt-org-1']);
      expect(await rows('deliveries', { webhook_id: everyOrg.webhook.id })).to.equal(5);
      await allSucceeded(7);
      const bodies = narrowed.receiver.requests.map((r) => JSON.parse(r.body) as { id: string; organization: unknown });
      expect(bodies.map((b) => b.id).sort()).to.deep.equal(['evt-added-1', 'evt-org-1']);
      expect(bodies.map((b) => b.organization)).to.deep.equal([{ id: 'org-1' }, { id: 'org-1' }]);
    });

    // README: a disabled webhook's events are kept as PAUSED deliveries, sent when it is enabled
    // again, or ended as failed with discard_paused_deliveries. Nothing is sent while disabled.
    it('holds a disabled webhook\'s events as paused deliveries and sends or discards them on enabling', async () => {
      const { webhook, receiver } = await hook(['user.login']);
      const admin = sidecar.admin(TENANT);
      const enable = (enabled: boolean, discardPausedDeliveries = false) =>
        admin.updateWebhook({ webhook: { ...webhook, enabled }, updateMask: ['enabled'], discardPausedDeliveries });
      const statusOf = async (eventId: string) =>
        ((await sidecar.app.db('deliveries').where({ webhook_id: webhook.id, event_id: eventId }).first()) as { status: string; attempt_count: number });

      expect((await enable(false)).webhook!.enabled).to.equal(false);
      expect(await publish(login('evt-while-off'))).to.include({ duplicate: false, deliveryCount: 1 });
      expect(await statusOf('evt-while-off')).to.include({ status: 'paused', attempt_count: 0 });
      const listed = await admin.listDeliveries({ webhookId: webhook.id, status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '' });
      expect(listed.deliveries.map((d) => d.status)).to.deep.equal([DeliveryStatus.DELIVERY_STATUS_PAUSED]);

      expect((await enable(true)).webhook!.enabled).to.equal(true);
      expect(await publish(login('evt-after-on'))).to.include({ deliveryCount: 1 });
      await allSucceeded(2);
      expect(receiver.requests.map((r) => JSON.parse(r.body).id).sort()).to.deep.equal(['evt-after-on', 'evt-while-off']);

      await enable(false);
      await publish(login('evt-discarded'));
      await enable(true, true);
      expect(await statusOf('evt-discarded')).to.include({ status: 'failed', attempt_count: 0 });
      await publish(login('evt-last'));
      await waitUntil(async () => (await rows('deliveries', { status: 'succeeded' })) === 3, 'evt-last to be delivered');
      expect(receiver.requests.map((r) => JSON.parse(r.body).id).sort()).to.deep.equal(['evt-after-on', 'evt-last', 'evt-while-off']);
    });
  });

  describe('batches and streams', () => {
    it('answers a batch of 50 with 50 results in order, a refused event not stopping the others', async () => {
      await hook(['user.login']);
      const events = Array.from({ length: 50 }, (_, i) => login(`evt-${String(i).padStart(2, '0')}`));
      events[17] = login('evt-17', { data: { email: 'no-user-id@example.com' } });
      const { results } = await sidecar.ingest.publishEvents({ events });
      expect(results).to.have.length(50);
      results.forEach((r, i) => {
        if (i === 17) return;
        expect(r, `results[${i}]`).to.deep.equal({ eventId: events[i]!.id, duplicate: false, deliveryCount: 1, error: undefined });
      });
      expect(results[17]!.error!.code).to.equal(3);
      expect(results[17]!.error!.message).to.include('events[17].data.user_id');
      // A refused event's result echoes the id it was sent with, so the caller can tell which it was.
      expect(results[17]!.eventId).to.equal('evt-17');
      expect(await rows('events')).to.equal(49);
      expect(await rows('events', { id: 'evt-17' })).to.equal(0);
      expect(await rows('deliveries')).to.equal(49);
    });

    /** Streams the events, checking at each ack that its event is already committed. */
    async function stream(events: Event[]): Promise<{ acks: EventResult[]; committed: boolean[]; status: StatusObject }> {
      const call = sidecar.ingestClient.streamEvents(metadataOf(sidecar.config.tokens.ingest));
      const acks: EventResult[] = [];
      const checks: Array<Promise<boolean>> = [];
      const ended = new Promise<void>((resolve) => call.on('end', resolve));
      const status = new Promise<StatusObject>((resolve, reject) => {
        call.on('status', resolve);
        call.on('error', reject);
      });
      call.on('data', (res: StreamEventsResponse) => {
        acks.push(res.result!);
        const id = res.result!.eventId;
        checks.push(
          id === '' ? Promise.resolve(false) : rows('events', { tenant_id: TENANT, id }).then((n) => n === 1),
        );
      });
      for (const event of events) call.write({ event });
      call.end();
      const [, finalStatus] = await Promise.all([ended, status]);
      return { acks, committed: await Promise.all(checks), status: finalStatus };
    }

    it('acknowledges 100 streamed events in order, each after its commit, and ends cleanly', async () => {
      await hook(['user.*']);
      const events = Array.from({ length: 100 }, (_, i) => login(`evt-s-${i}`));
      const { acks, committed, status } = await stream(events);
      expect(status.code).to.equal(0);
      expect(acks.map((a) => a.eventId)).to.deep.equal(events.map((e) => e.id));
      expect(acks.every((a) => !a.duplicate && a.deliveryCount === 1 && a.error === undefined)).to.equal(true);
      expect(committed.every(Boolean), 'every acked event was in the database at its ack').to.equal(true);
      expect(await rows('events')).to.equal(100);
      expect(await rows('deliveries')).to.equal(100);
    });

    // Only MySQL can hold one commit while the others go on, to fill the stream's window. (A stream
    // cancelled while it reads ends as it should without the window full: only a paused one hung.)
    if (database.name === 'mysql') {
      it('lets go of a stream cancelled while its reading is paused, a commit still waiting', async () => {
        const blocker = knex({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: 2 } });
        const trx = await blocker.transaction();
        const call = sidecar.ingestClient.streamEvents(metadataOf(sidecar.config.tokens.ingest));
        call.on('error', () => undefined);
        try {
          // evt-a waits on the blocker's uncommitted row; the events after it commit, unacknowledged
          // behind it, until 1,024 wait (the window) and reading pauses. Their ids sort after
          // evt-a: the waiting insert's lock covers the gap before evt-a, and would hold them too.
          const x = { tenantId: TENANT, id: 'evt-a', type: 'user.login', organizationId: null, occurredAt: 0, payload: '{}' };
          await trx('events').insert(eventRow(x, 0, Date.now()).event);
          call.write({ event: login('evt-a') });
          await waitUntil(async () => {
            const [found] = (await blocker.raw(
              "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info LIKE 'insert into `events`%' AND state = 'update'",
            )) as [Array<{ n: number }>];
            return Number(found[0]!.n) > 0;
          }, 'the commit of evt-a to wait on the lock');
          for (let i = 0; i < 1_100; i += 1) call.write({ event: login(`evt-w-${i}`) });
          await waitUntil(async () => (await rows('events')) === 1_023, 'the window to fill: evt-a and 1,023 events after it read');
          call.cancel();
          await waitUntil(() => sidecar.app.openStreams() === 0, 'the cancelled stream to be let go');
        } finally {
          await trx.rollback();
          await blocker.destroy();
        }
      });
    }

    it('on shutdown, acknowledges every streamed event it stored, then ends the stream UNAVAILABLE', async () => {
      const call = sidecar.ingestClient.streamEvents(metadataOf(sidecar.config.tokens.ingest));
      const acked: string[] = [];
      call.on('data', (res: StreamEventsResponse) => acked.push(res.result!.eventId));
      const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => undefined); // the status, as an error: read from 'status'
      const first = new Promise((resolve) => call.once('data', resolve));
      for (let i = 0; i < 200; i += 1) call.write({ event: login(`evt-stop-${i}`) });
      await first;
      const stopped = sidecar.app.stop(); // while the client is still sending
      for (let i = 200; i < 210; i += 1) call.write({ event: login(`evt-stop-${i}`) });
      const status = await ended;
      await stopped;
      expect(status.code, status.details).to.equal(14); // UNAVAILABLE: send the rest again, elsewhere
      const db = knex(database.name === 'mysql' ? { client: 'mysql2', connection: dbUrl } : { client: 'better-sqlite3', connection: { filename: dbUrl.slice('sqlite:'.length) }, useNullAsDefault: true });
      try {
        const stored = (await db('events').orderBy('id').pluck('id')) as string[];
        expect(stored, 'stored is exactly what was acknowledged').to.deep.equal([...acked].sort());
        expect(acked.length).to.be.below(210);
      } finally {
        await db.destroy();
      }
    });

    it('acknowledges a bad streamed event with INVALID_ARGUMENT and goes on', async () => {
      const events = [login('evt-good-1'), login('evt-bad', { type: 'user.nonexistent' }), login('evt-good-1'), login('evt-good-2')];
      const { acks, committed, status } = await stream(events);
      expect(status.code).to.equal(0);
      expect(acks).to.have.length(4);
      expect(acks[0]).to.include({ eventId: 'evt-good-1', duplicate: false });
      expect(acks[1]!.error!.code).to.equal(3);
      expect(acks[1]!.error!.message).to.include('event.type');
      expect(acks[2]).to.include({ eventId: 'evt-good-1', duplicate: true });
      expect(acks[3]).to.include({ eventId: 'evt-good-2', duplicate: false });
      expect(committed).to.deep.equal([true, false, true, true]);
      expect(await rows('events')).to.equal(2);
    });
  });
});
