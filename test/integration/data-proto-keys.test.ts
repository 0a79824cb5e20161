/**
 * A key named "__proto__" in event data, on each database. The generated Struct decoder used to
 * drop it silently (the event was accepted and receivers got data without it); now PublishEvent,
 * each event of PublishEvents and SendTestEvent refuse it with INVALID_ARGUMENT naming its path.
 * No grpc-js client built on the generated types can send such a key (its encoder drops it too),
 * so these requests are written as raw protobuf bytes.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { PublishEventResponse, PublishEventsResponse } from '../../src/grpc/generated/webhooks/v1/ingest';
import { SendTestEventRequest, SendTestEventResponse } from '../../src/grpc/generated/webhooks/v1/management';
import { forEachDatabase } from '../support/databases';
import { metadataOf, rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-proto-keys';

/** google.protobuf.Value bytes: a string (field 3), a number (2) or a Struct (5). */
type Val = { s: string } | { n: number } | { struct: Uint8Array } | { list: Uint8Array[] };

function value(v: Val): Uint8Array {
  const w = new BinaryWriter();
  if ('s' in v) w.uint32(26).string(v.s);
  else if ('n' in v) w.uint32(17).double(v.n);
  else if ('struct' in v) w.uint32(42).bytes(v.struct);
  else w.uint32(50).bytes(list(v.list));
  return w.finish();
}

function list(values: Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  for (const v of values) w.uint32(10).bytes(v);
  return w.finish();
}

/** google.protobuf.Struct bytes with these entries in this order (any key, "__proto__" included). */
function struct(entries: Array<[string, Val]>): Uint8Array {
  const w = new BinaryWriter();
  for (const [key, v] of entries) w.uint32(10).fork().uint32(10).string(key).uint32(18).bytes(value(v)).join();
  return w.finish();
}

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } };
}

/** An Event's bytes whose data (field 6) is the given Struct. */
function withData(event: Event, data: Uint8Array): Buffer {
  return Buffer.from(Event.encode({ ...event, data: undefined }).uint32(50).bytes(data).finish());
}

function requestOf(...events: Buffer[]): Buffer {
  const w = new BinaryWriter();
  for (const event of events) w.uint32(10).bytes(event);
  return Buffer.from(w.finish());
}

const TOP_LEVEL = struct([['user_id', { s: 'u-1' }], ['__proto__', { struct: struct([['x', { n: 1 }]]) }]]);

forEachDatabase('a "__proto__" key in event data', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let db: Knex;
  let raw: grpc.Client;
  let webhookId: string;

  before(async () => {
    sidecar = await startSidecar(await database.create());
    db = sidecar.app.db;
    receiver = await TestReceiver.start();
    const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['*'], description: '', organizationIds: [] });
    webhookId = webhook!.id;
    raw = new grpc.Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    raw.close();
    await sidecar.stop();
    await receiver.close();
  });

  function unary<Res>(path: string, bytes: Buffer, decode: (b: Buffer) => Res, token: string, tenantId?: string): Promise<Res> {
    return new Promise((resolve, reject) => {
      raw.makeUnaryRequest(path, (b: Buffer) => b, decode, bytes, metadataOf(token, tenantId), (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }
  const publishEvent = (event: Buffer) =>
    unary('/webhooks.v1.EventIngest/PublishEvent', requestOf(event), PublishEventResponse.decode, sidecar.config.tokens.ingest);
  const storedIds = async (ids: string[]) => ((await db('events').where('tenant_id', TENANT).whereIn('id', ids).orderBy('id').pluck('id')) as string[]);

  async function expectRefused(event: Buffer, id: string, field: string): Promise<void> {
    const err = await rejectionOf(publishEvent(event));
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.match(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `));
    expect(await storedIds([id])).to.deep.equal([]);
  }

  it('PublishEvent: refuses a top-level "__proto__" key, naming event.data.__proto__, and stores nothing', () =>
    expectRefused(withData(login('proto-top'), TOP_LEVEL), 'proto-top', 'event.data.__proto__'));

  it('PublishEvent: refuses one nested in an object inside a list, naming its path', () => {
    const nested = struct([
      ['user_id', { s: 'u-1' }],
      ['context', { struct: struct([['hops', { list: [value({ s: 'a' }), value({ struct: struct([['__proto__', { s: 'x' }]]) })] }]]) }],
    ]);
    return expectRefused(withData(login('proto-nested'), nested), 'proto-nested', 'event.data.context.hops[1].__proto__');
  });

  it('PublishEvent: accepts keys that only look like it, and delivers them verbatim', async () => {
    const data = struct([['user_id', { s: 'u-1' }], ['a"__proto__', { s: '__proto__' }], ['__proto__x', { s: '"__proto__":' }]]);
    const { result } = await publishEvent(withData(login('proto-lookalike'), data));
    expect(result).to.deep.include({ eventId: 'proto-lookalike', deliveryCount: 1, error: undefined });
    await waitUntil(() => receiver.requests.some((r) => r.body.includes('proto-lookalike')), 'the look-alike event delivered');
    const body = JSON.parse(receiver.requests.find((r) => r.body.includes('proto-lookalike'))!.body) as { data: unknown };
    expect(body.data).to.deep.equal({ user_id: 'u-1', 'a"__proto__': '__proto__', '__proto__x': '"__proto__":' });
  });

  it('PublishEvents: answers the event holding it with its own error naming events[1].data.__proto__, and stores the others', async () => {
    const events = [Buffer.from(Event.encode(login('proto-batch-a')).finish()), withData(login('proto-batch-bad'), TOP_LEVEL), Buffer.from(Event.encode(login('proto-batch-b')).finish())];
    const { results } = await unary('/webhooks.v1.EventIngest/PublishEvents', requestOf(...events), PublishEventsResponse.decode, sidecar.config.tokens.ingest);
    expect(results).to.have.length(3);
    expect(results[1]!.error?.code).to.equal(status.INVALID_ARGUMENT);
    expect(results[1]!.error!.message).to.match(/^events\[1\]\.data\.__proto__: /);
    expect(results[1]).to.include({ eventId: 'proto-batch-bad', deliveryCount: 0 });
    for (const i of [0, 2]) expect(results[i]).to.deep.include({ deliveryCount: 1, error: undefined });
    expect(await storedIds(['proto-batch-a', 'proto-batch-b', 'proto-batch-bad'])).to.deep.equal(['proto-batch-a', 'proto-batch-b']);
  });

  it('SendTestEvent: refuses it in data, naming data.__proto__, and sends nothing', async () => {
    const bytes = Buffer.from(SendTestEventRequest.encode({ webhookId, data: undefined }).uint32(18).bytes(TOP_LEVEL).finish());
    const before = Number(((await db('events').where('tenant_id', TENANT).count({ n: '*' }).first()) as { n: number | string }).n);
    const err = await rejectionOf(
      unary('/webhooks.v1.WebhookManagement/SendTestEvent', bytes, SendTestEventResponse.decode, sidecar.config.tokens.admin, TENANT),
    );
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.match(/^data\.__proto__: /);
    const after = Number(((await db('events').where('tenant_id', TENANT).count({ n: '*' }).first()) as { n: number | string }).n);
    expect(after).to.equal(before);
  });
});
