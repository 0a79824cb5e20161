/**
 * Bad input on EventIngest (PublishEvent, PublishEvents, StreamEvents), on each database: every
 * refusal is INVALID_ARGUMENT naming the field, and leaves no row behind. In a batch or a stream
 * the bad event gets its own error result while the good ones beside it are committed and
 * delivered. A tenant webhook subscribed to "*" makes any wrongly accepted event visible as a
 * delivery and as a POST.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status, type Metadata } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import { Event, type EventResult } from '../../src/grpc/generated/webhooks/v1/event';
import { PublishEventResponse, PublishEventsResponse, StreamEventsResponse } from '../../src/grpc/generated/webhooks/v1/ingest';
import { forEachDatabase } from '../support/databases';
import { metadataOf, rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-ingest';
const MAX_EVENT_BYTES = 65_536; // WEBHOOKS_MAX_EVENT_BYTES default
const TABLES = ['webhooks', 'webhook_stats', 'events', 'deliveries', 'delivery_attempts'] as const;
type Counts = Record<(typeof TABLES)[number], number>;

function login(id: string, overrides: Partial<Event> = {}): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' }, ...overrides };
}

const HOUR = 3_600_000;
/** Each bad event, and the field (inside the event) its refusal must name. */
const BAD_EVENTS: ReadonlyArray<{ name: string; field: string; event: (id: string) => Event }> = [
  { name: 'no tenant_id', field: 'tenant_id', event: (id) => login(id, { tenantId: '' }) },
  { name: 'a malformed tenant_id', field: 'tenant_id', event: (id) => login(id, { tenantId: 'tenant a/b' }) },
  { name: 'a 65-character tenant_id', field: 'tenant_id', event: (id) => login(id, { tenantId: 't'.repeat(65) }) },
  { name: 'an id with a space', field: 'id', event: (id) => login(`${id} x`) },
  { name: 'a 129-character id', field: 'id', event: (id) => login(id.padEnd(129, 'x')) },
  { name: 'no type', field: 'type', event: (id) => login(id, { type: '' }) },
  { name: 'an unknown type', field: 'type', event: (id) => login(id, { type: 'user.teleported' }) },
  { name: 'the internal type webhook.test', field: 'type', event: (id) => login(id, { type: 'webhook.test', data: {} }) },
  {
    name: 'an organization.* event without organization_id',
    field: 'organization_id',
    event: (id) => login(id, { type: 'organization.user_added', data: { user_id: 'u-1', role: 'admin' } }),
  },
  { name: 'a malformed organization_id', field: 'organization_id', event: (id) => login(id, { organizationId: 'org 1' }) },
  { name: 'occurred_at 25 h in the future', field: 'occurred_at', event: (id) => login(id, { occurredAt: new Date(Date.now() + 25 * HOUR) }) },
  { name: 'occurred_at before 1970', field: 'occurred_at', event: (id) => login(id, { occurredAt: new Date('1969-12-31T00:00:00Z') }) },
  { name: 'no data at all (user_id is required)', field: 'data.user_id', event: (id) => login(id, { data: undefined }) },
  { name: 'data without user_id', field: 'data.user_id', event: (id) => login(id, { data: { email: 'ada@example.com' } }) },
  { name: 'a numeric user_id', field: 'data.user_id', event: (id) => login(id, { data: { user_id: 42 } }) },
  { name: 'a malformed email', field: 'data.email', event: (id) => login(id, { data: { user_id: 'u-1', email: 'not-an-email' } }) },
  {
    name: 'a login_failed reason outside its enum',
    field: 'data.reason',
    event: (id) => login(id, { type: 'user.login_failed', data: { reason: 'bad_luck' } }),
  },
  { name: 'an event over WEBHOOKS_MAX_EVENT_BYTES', field: 'data', event: (id) => sizedLogin(id, MAX_EVENT_BYTES + 1) },
];

/** A login whose receiver body (DESIGN.md, "What a receiver gets") is exactly `bytes` long. */
function sizedLogin(id: string, bytes: number): Event {
  const occurredAt = new Date('2026-11-27T10:00:00.000Z');
  const body = (note: string) =>
    JSON.stringify({ id, type: 'user.login', timestamp: occurredAt.toISOString(), tenant_id: TENANT, organization: null, data: { user_id: 'u-1', note } });
  return login(id, { occurredAt, data: { user_id: 'u-1', note: 'x'.repeat(bytes - Buffer.byteLength(body(''))) } });
}

/**
 * An event's encoding with occurred_at.seconds = 2^60: valid protobuf, but beyond what a JS number
 * holds exactly, so no client built on these types can send it; raw bytes can.
 */
function withHugeOccurredAt(event: Event): Buffer {
  const writer = Event.encode({ ...event, occurredAt: undefined });
  writer.uint32(34).fork().uint32(8).int64(2n ** 60n).join();
  return Buffer.from(writer.finish());
}

/** A request whose field 1 holds each of these encoded events (PublishEvent(s)Request, StreamEventsRequest). */
function requestOf(...events: Buffer[]): Buffer {
  const writer = new BinaryWriter();
  for (const event of events) writer.uint32(10).bytes(event);
  return Buffer.from(writer.finish());
}

async function rowCounts(db: Knex): Promise<Counts> {
  const counts = {} as Counts;
  for (const table of TABLES) {
    const row = (await db(table).count({ n: '*' }).first()) as { n: number | string };
    counts[table] = Number(row.n);
  }
  return counts;
}

function expectNamesField(message: string, field: string): void {
  expect(message.slice(0, field.length + 2), message).to.equal(`${field}: `);
}

forEachDatabase('bad input on EventIngest', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let db: Knex;
  /** Every event id this file expects committed: nothing else may reach the receiver. */
  const accepted = new Set<string>();

  before(async () => {
    sidecar = await startSidecar(await database.create());
    db = sidecar.app.db;
    receiver = await TestReceiver.start();
    await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['*'], description: 'all', organizationIds: [] });
  });

  after(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  /** Waits until every delivery is done, so row counts stay still while a test looks at them. */
  async function settled(): Promise<Counts> {
    const pending = async () => (await db('deliveries').where('status', 'pending').count({ n: '*' }).first()) as { n: number | string };
    await waitUntil(async () => Number((await pending()).n) === 0, 'no pending deliveries');
    return rowCounts(db);
  }

  async function expectRefused(call: () => Promise<unknown>, field: string): Promise<void> {
    const before = await settled();
    const err = await rejectionOf(call());
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expectNamesField(err.details, field);
    expect(await rowCounts(db)).to.deep.equal(before);
  }

  /** Publishes [good, bad, good] and checks that exactly the good ones were committed. */
  async function expectMixed(
    publish: (events: Event[]) => Promise<EventResult[]>,
    bad: Event,
    field: string,
    ids: [string, string],
  ): Promise<void> {
    const before = await settled();
    const results = await publish([login(ids[0]), bad, login(ids[1])]);
    expect(results).to.have.length(3);
    expect(results[1]!.error?.code, results[1]!.error?.message).to.equal(status.INVALID_ARGUMENT);
    expectNamesField(results[1]!.error!.message, field);
    expect(results[1]).to.include({ eventId: bad.id, duplicate: false, deliveryCount: 0 });
    const committed = { duplicate: false, deliveryCount: 1, error: undefined };
    expect(results[0]).to.deep.include({ eventId: ids[0], ...committed });
    expect(results[2]).to.deep.include({ eventId: ids[1], ...committed });
    ids.forEach((id) => accepted.add(id));
    const stored = (await db('events').where('tenant_id', TENANT).whereIn('id', [...ids, bad.id]).orderBy('id').pluck('id')) as string[];
    expect(stored).to.deep.equal([...ids].sort());
    const after = await settled();
    expect(after).to.deep.equal({ ...before, events: before.events + 2, deliveries: before.deliveries + 2, delivery_attempts: before.delivery_attempts + 2 });
  }

  function stream(events: Event[], metadata: Metadata): Promise<EventResult[]> {
    return new Promise((resolve, reject) => {
      const call = sidecar.ingestClient.streamEvents(metadata, { deadline: Date.now() + 10_000 });
      const results: EventResult[] = [];
      call.on('data', (res: { result: EventResult }) => results.push(res.result));
      call.on('error', reject);
      call.on('end', () => resolve(results));
      for (const event of events) call.write({ event });
      call.end();
    });
  }

  describe('PublishEvent', () => {
    it('refuses a request without an event, naming "event"', () =>
      expectRefused(() => sidecar.ingest.publishEvent({ event: undefined }), 'event'));

    BAD_EVENTS.forEach(({ name, field, event }, n) => {
      it(`refuses ${name}, naming event.${field}, and stores nothing`, () =>
        expectRefused(() => sidecar.ingest.publishEvent({ event: event(`unary-bad-${n}`) }), `event.${field}`));
    });

    for (const [field, event] of [
      ['id', login('.starts-with-a-dot')],
      ['tenant_id', login('first-char-tenant', { tenantId: '-tenant' })],
      ['organization_id', login('first-char-org', { organizationId: ':org' })],
    ] as const) {
      it(`refuses an event whose ${field} does not start with a letter or digit, saying so`, async () => {
        await expectRefused(() => sidecar.ingest.publishEvent({ event }), `event.${field}`);
        const err = await rejectionOf(sidecar.ingest.publishEvent({ event }));
        expect(err.details).to.match(/characters of \[A-Za-z0-9._:-\], starting with a letter or digit$/);
      });
    }

    it('accepts an event whose body is exactly WEBHOOKS_MAX_EVENT_BYTES and delivers that body', async () => {
      const { result } = await sidecar.ingest.publishEvent({ event: sizedLogin('exact-size', MAX_EVENT_BYTES) });
      expect(result).to.deep.include({ eventId: 'exact-size', duplicate: false, deliveryCount: 1, error: undefined });
      accepted.add('exact-size');
      await settled();
      const body = receiver.requests.map((r) => r.body).find((b) => (JSON.parse(b) as { id: string }).id === 'exact-size');
      expect(Buffer.byteLength(body ?? '')).to.equal(MAX_EVENT_BYTES);
    });
  });

  describe('PublishEvents', () => {
    it('refuses an empty batch, naming "events"', () =>
      expectRefused(() => sidecar.ingest.publishEvents({ events: [] }), 'events'));

    it('refuses a batch of 1001 events, naming "events", and stores none of them', () =>
      expectRefused(
        () => sidecar.ingest.publishEvents({ events: Array.from({ length: 1001 }, (_, i) => login(`big-batch-${i}`)) }),
        'events',
      ));

    BAD_EVENTS.forEach(({ name, field, event }, n) => {
      it(`answers ${name} at events[1] with its own INVALID_ARGUMENT naming events[1].${field}, and commits events[0] and [2]`, () =>
        expectMixed(
          async (events) => (await sidecar.ingest.publishEvents({ events })).results,
          event(`batch-bad-${n}`),
          `events[1].${field}`,
          [`batch-${n}-a`, `batch-${n}-b`],
        ));
    });

    it('commits nothing from a batch whose every event is bad, and still answers OK with one error each', async () => {
      const before = await settled();
      const { results } = await sidecar.ingest.publishEvents({ events: BAD_EVENTS.map(({ event }, n) => event(`all-bad-${n}`)) });
      expect(results).to.have.length(BAD_EVENTS.length);
      results.forEach((r, i) => {
        expect(r.error?.code).to.equal(status.INVALID_ARGUMENT);
        expectNamesField(r.error!.message, `events[${i}].${BAD_EVENTS[i]!.field}`);
      });
      expect(await rowCounts(db)).to.deep.equal(before);
    });
  });

  describe('StreamEvents', () => {
    BAD_EVENTS.forEach(({ name, field, event }, n) => {
      it(`acknowledges ${name} with INVALID_ARGUMENT naming event.${field}, and commits the events around it`, () =>
        expectMixed(
          (events) => stream(events, metadataOf(sidecar.config.tokens.ingest)),
          event(`stream-bad-${n}`),
          `event.${field}`,
          [`stream-${n}-a`, `stream-${n}-b`],
        ));
    });

    it('commits nothing from a stream of bad events only, and ends it OK', async () => {
      const before = await settled();
      const results = await stream(BAD_EVENTS.map(({ event }, n) => event(`stream-all-bad-${n}`)), metadataOf(sidecar.config.tokens.ingest));
      expect(results.map((r) => [r.error?.code, r.error?.message.split(':')[0]])).to.deep.equal(
        BAD_EVENTS.map(({ field }) => [status.INVALID_ARGUMENT, `event.${field}`]),
      );
      expect(await rowCounts(db)).to.deep.equal(before);
    });
  });

  describe('occurred_at seconds beyond any Date (2^60), sent as raw bytes', () => {
    let raw: grpc.Client;
    before(() => (raw = new grpc.Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure())));
    after(() => raw.close());

    function unary<Res>(method: string, bytes: Buffer, decode: (b: Buffer) => Res, metadata: Metadata): Promise<Res> {
      return new Promise((resolve, reject) => {
        raw.makeUnaryRequest(`/webhooks.v1.EventIngest/${method}`, (b: Buffer) => b, decode, bytes, metadata, (err, res) =>
          err ? reject(err) : resolve(res!),
        );
      });
    }
    const ingestToken = () => metadataOf(sidecar.config.tokens.ingest);

    it('PublishEvent: refuses it with INVALID_ARGUMENT naming event.occurred_at, and stores nothing', () =>
      expectRefused(
        () => unary('PublishEvent', requestOf(withHugeOccurredAt(login('huge-unary'))), PublishEventResponse.decode, ingestToken()),
        'event.occurred_at',
      ));

    it('PublishEvent: still answers a caller without a token UNAUTHENTICATED', async () => {
      const err = await rejectionOf(unary('PublishEvent', requestOf(withHugeOccurredAt(login('huge-no-token'))), PublishEventResponse.decode, metadataOf(undefined)));
      expect(err.code, err.details).to.equal(status.UNAUTHENTICATED);
    });

    it('PublishEvents: answers it at events[1] naming events[1].occurred_at, and commits events[0] and [2]', () =>
      expectMixed(
        async (events) => {
          const bytes = requestOf(...events.map((e, i) => (i === 1 ? withHugeOccurredAt(e) : Buffer.from(Event.encode(e).finish()))));
          return (await unary('PublishEvents', bytes, PublishEventsResponse.decode, ingestToken())).results;
        },
        login('huge-batch'),
        'events[1].occurred_at',
        ['huge-batch-a', 'huge-batch-b'],
      ));

    it('StreamEvents: acknowledges it with INVALID_ARGUMENT naming event.occurred_at, and goes on', () =>
      expectMixed(
        (events) =>
          new Promise((resolve, reject) => {
            const call = raw.makeBidiStreamRequest('/webhooks.v1.EventIngest/StreamEvents', (b: Buffer) => b, (b: Buffer) => b, ingestToken(), {
              deadline: Date.now() + 10_000,
            });
            const results: EventResult[] = [];
            call.on('data', (b: Buffer) => results.push(StreamEventsResponse.decode(b).result!));
            call.on('error', reject);
            call.on('end', () => resolve(results));
            events.forEach((e, i) => call.write(requestOf(i === 1 ? withHugeOccurredAt(e) : Buffer.from(Event.encode(e).finish()))));
            call.end();
          }),
        login('huge-stream'),
        'event.occurred_at',
        ['huge-stream-a', 'huge-stream-b'],
      ));
  });

  it('still serves a valid event afterwards, and never delivered anything it refused', async () => {
    const { result } = await sidecar.ingest.publishEvent({ event: login('healthy-at-the-end') });
    expect(result).to.deep.include({ eventId: 'healthy-at-the-end', duplicate: false, deliveryCount: 1, error: undefined });
    accepted.add('healthy-at-the-end');
    await receiver.waitForRequests(accepted.size);
    await settled();
    const delivered = receiver.requests.map((r) => (JSON.parse(r.body) as { id: string }).id);
    expect(delivered.sort()).to.deep.equal([...accepted].sort());
  });
});
