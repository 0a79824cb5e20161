/**
 * fast-check arbitraries for every request message of the API, encoded with the generated
 * ts-proto `encode`: random values, biased towards the edges (empty, huge, control characters,
 * ids that exist, wildcards, extreme times), so that calls reach deep into the handlers instead
 * of all stopping at the first check. Plus malformed bytes: random, and valid encodings mangled.
 */
import fc from 'fast-check';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { PublishEventRequest, PublishEventsRequest, StreamEventsRequest } from '../../src/grpc/generated/webhooks/v1/ingest';
import * as m from '../../src/grpc/generated/webhooks/v1/management';

/** Ids that exist when the fuzzing starts, so some calls find something. */
export interface Known {
  readonly webhookId: string;
  readonly deliveryId: string;
  readonly tenantId: string;
}

const EDGE_STRINGS = ['', ' ', '*', 'user.login', 'security.*', 'x'.repeat(5_000), '\u0000', '../../etc', '%00', '\ud800', 'null', '[]', '{}'];

function text(known: Known): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
    { weight: 2, arbitrary: fc.constantFrom(...EDGE_STRINGS, known.webhookId, known.deliveryId, known.tenantId) },
    { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true }) },
    { weight: 1, arbitrary: fc.constantFrom('https://hooks.example.com/in', 'http://127.0.0.1:1/', 'http://[::1]/', 'http://169.254.169.254/') },
  );
}

const int32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, 1, -1, 100, 101, 2 ** 31 - 1));
const time = fc.option(fc.oneof(fc.date({ noInvalidDate: true }), fc.constantFrom(new Date(0), new Date(-1), new Date(8.64e15))), { nil: undefined });
const json = fc.option(fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }), { nil: undefined });
const list = <T>(item: fc.Arbitrary<T>) => fc.oneof(fc.array(item, { maxLength: 4 }), fc.array(item, { minLength: 40, maxLength: 120 }));

/** An event that passes validation, or nearly: one field of it random. */
function plausibleEvent(known: Known): fc.Arbitrary<Event> {
  const valid: Event = { id: '', tenantId: known.tenantId, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } };
  const field = fc.constantFrom<keyof Event>('id', 'tenantId', 'type', 'occurredAt', 'organizationId', 'data');
  const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
  return fc.tuple(field, id, text(known), json, time).map(([name, goodId, bad, data, at]) => {
    const e: Event = { ...valid, id: goodId };
    if (name === 'data') return { ...e, data };
    if (name === 'occurredAt') return { ...e, occurredAt: at };
    return { ...e, [name]: bad };
  });
}

function event(known: Known): fc.Arbitrary<Event> {
  return fc.oneof(randomEvent(known), plausibleEvent(known));
}

function randomEvent(known: Known): fc.Arbitrary<Event> {
  const s = text(known);
  return fc.record({
    id: s,
    tenantId: fc.oneof(s, fc.constant(known.tenantId)),
    type: fc.oneof(s, fc.constantFrom('user.login', 'user.login_failed', 'organization.user_added', 'webhook.test')),
    occurredAt: time,
    organizationId: s,
    data: json,
  });
}

function webhook(known: Known): fc.Arbitrary<m.Webhook> {
  const s = text(known);
  return fc.record({
    id: fc.oneof(s, fc.constant(known.webhookId)),
    tenantId: s,
    url: s,
    eventTypes: list(s),
    description: s,
    enabled: fc.boolean(),
    disabledReason: s,
    organizationIds: list(s),
    createTime: time,
    updateTime: time,
  });
}

/** A generated message type: what the fuzzer needs of it. */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export interface RpcFuzz {
  readonly path: string;
  /** Random, well-formed requests, encoded. */
  readonly requests: fc.Arbitrary<Uint8Array>;
  /** Whether bytes decode as this RPC's request (the server's deserializer is the same decode). */
  decodes(bytes: Uint8Array): boolean;
}

export function decodes<T>(type: MessageType<T>, bytes: Uint8Array): boolean {
  try {
    type.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function rpc<T>(path: string, type: MessageType<T>, arbitrary: fc.Arbitrary<T>): RpcFuzz {
  return { path, requests: arbitrary.map((message) => type.encode(message).finish()), decodes: (bytes) => decodes(type, bytes) };
}

export function unaryRpcs(known: Known): RpcFuzz[] {
  const s = text(known);
  const id = fc.oneof(s, fc.constantFrom(known.webhookId, known.deliveryId));
  const W = '/webhooks.v1.WebhookManagement/';
  return [
    rpc('/webhooks.v1.EventIngest/PublishEvent', PublishEventRequest, fc.record({ event: fc.option(event(known), { nil: undefined }) })),
    rpc('/webhooks.v1.EventIngest/PublishEvents', PublishEventsRequest, fc.record({ events: list(event(known)) })),
    rpc(`${W}CreateWebhook`, m.CreateWebhookRequest, fc.record({
      url: fc.oneof(s, fc.constant('https://hooks.example.com/in')),
      eventTypes: fc.oneof(list(s), list(fc.constantFrom('*', 'user.*', 'user.login', 'security.account_locked'))),
      description: s,
      organizationIds: fc.oneof(list(s), fc.constant([])),
    })),
    rpc(`${W}GetWebhook`, m.GetWebhookRequest, fc.record({ id })),
    rpc(`${W}ListWebhooks`, m.ListWebhooksRequest, fc.record({ pageSize: int32, pageToken: s })),
    rpc(`${W}UpdateWebhook`, m.UpdateWebhookRequest, fc.record({
      webhook: fc.option(webhook(known), { nil: undefined }),
      updateMask: fc.option(list(fc.oneof(s, fc.constantFrom('url', 'event_types', 'description', 'enabled', 'organization_ids'))), { nil: undefined }),
      discardPausedDeliveries: fc.boolean(),
    })),
    rpc(`${W}DeleteWebhook`, m.DeleteWebhookRequest, fc.record({ id })),
    rpc(`${W}RotateWebhookSecret`, m.RotateWebhookSecretRequest, fc.record({ id })),
    rpc(`${W}ListDeliveries`, m.ListDeliveriesRequest, fc.record({
      webhookId: id, status: int32, startTime: time, endTime: time, pageSize: int32, pageToken: s,
    })),
    rpc(`${W}GetDelivery`, m.GetDeliveryRequest, fc.record({ id })),
    rpc(`${W}RetryDelivery`, m.RetryDeliveryRequest, fc.record({ id })),
    rpc(`${W}RetryFailedDeliveries`, m.RetryFailedDeliveriesRequest, fc.record({ webhookId: id, since: time })),
    rpc(`${W}SendTestEvent`, m.SendTestEventRequest, fc.record({ webhookId: id, data: json })),
    rpc(`${W}GetWebhookStats`, m.GetWebhookStatsRequest, fc.record({
      webhookId: id,
      window: fc.option(fc.record({ seconds: fc.oneof(int32, fc.constantFrom(3600, 7_776_001)), nanos: int32 }), { nil: undefined }),
    })),
    rpc(`${W}ListEventTypes`, m.ListEventTypesRequest, fc.constant({})),
  ];
}

/** Bytes no well-behaved client sends: random ones, and a valid encoding cut or with bytes flipped. */
export function malformed(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const mangled = fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([bytes, at, xor, cut]) => {
    if (bytes.length === 0) return Uint8Array.of(xor);
    const copy = Uint8Array.from(bytes);
    const i = at % copy.length;
    if (cut) return copy.subarray(0, i);
    copy[i]! ^= xor;
    return copy;
  });
  return fc.oneof(fc.uint8Array({ maxLength: 256 }), mangled);
}

/** Events for StreamEvents, each one a message of the stream. */
export function streamMessages(known: Known): fc.Arbitrary<Uint8Array[]> {
  const wellFormed = fc.record({ event: fc.option(event(known), { nil: undefined }) }).map((r) => StreamEventsRequest.encode(r).finish());
  return fc.array(fc.oneof(wellFormed, malformed(wellFormed)), { minLength: 1, maxLength: 5 });
}
