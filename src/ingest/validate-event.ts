/**
 * Turns an Event from the wire into a ValidEvent, or throws InputError naming the field
 * (prefixed with where the event sat: "event." or "events[3].").
 */
import type { Event } from '../grpc/generated/webhooks/v1/event';
import { InputError } from '../errors';
import { isValidTenantId } from '../grpc/auth';
import { isNestedTooDeep, MAX_DATA_DEPTH } from '../grpc/data-depth';
import { newEventId } from '../ids';
import type { EventCatalog } from './catalog/catalog';
import { protoKeyPath } from './proto-keys';

export interface ValidEvent {
  readonly tenantId: string;
  readonly id: string;
  readonly type: string;
  readonly organizationId: string | null;
  /** Milliseconds since the epoch. */
  readonly occurredAt: number;
  /** The exact JSON body receivers get. */
  readonly payload: string;
  /** The W3C traceparent of the span that ingested it (null or absent: tracing was off). */
  readonly traceContext?: string | null;
}

export interface EventRules {
  readonly catalog: EventCatalog;
  readonly maxEventBytes: number;
}

const EVENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Clocks drift; an event from further ahead than this is a bug in the caller. */
const MAX_FUTURE_MS = 24 * 3600 * 1000;

export function validateEvent(
  event: Event | undefined,
  rules: EventRules,
  where: string,
  now: number,
): ValidEvent {
  if (!event) throw new InputError(where, 'is required');
  const field = (name: string): string => `${where}.${name}`;
  if (event.tenantId === '') throw new InputError(field('tenant_id'), 'is required');
  if (!isValidTenantId(event.tenantId)) {
    throw new InputError(field('tenant_id'), 'must be 1-64 characters of [A-Za-z0-9._:-], starting with a letter or digit');
  }
  if (event.id !== '' && !EVENT_ID.test(event.id)) {
    throw new InputError(field('id'), 'must be 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit');
  }
  if (event.type === '') throw new InputError(field('type'), 'is required');
  if (!rules.catalog.has(event.type)) {
    throw new InputError(field('type'), `unknown event type "${printable(event.type)}"`);
  }
  if (event.organizationId !== '' && !ORGANIZATION_ID.test(event.organizationId)) {
    throw new InputError(field('organization_id'), 'must be 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit');
  }
  if (event.organizationId === '' && event.type.startsWith('organization.')) {
    throw new InputError(field('organization_id'), `is required for ${event.type} events`);
  }
  const occurredAt = checkOccurredAt(event.occurredAt, field('occurred_at'), now);
  const data = event.data ?? {};
  if (isNestedTooDeep(data)) throw new InputError(field('data'), `is nested more than ${MAX_DATA_DEPTH} levels`);
  const valid = {
    tenantId: event.tenantId,
    id: event.id === '' ? newEventId() : event.id,
    type: event.type,
    organizationId: event.organizationId === '' ? null : event.organizationId,
    occurredAt,
  };
  // Rendered before the schema check: the "__proto__" check reads the JSON, and goes first so
  // that its refusal names the key rather than whatever a schema says of an unknown property.
  const payload = renderPayload(valid, data);
  checkNoProtoKey(data, payload, field('data'));
  const failure = rules.catalog.validate(event.type, data);
  if (failure) throw new InputError(field(failure.field), failure.message);
  const size = Buffer.byteLength(payload, 'utf8');
  if (size > rules.maxEventBytes) {
    throw new InputError(field('data'), `the event is ${size} bytes, over the limit of ${rules.maxEventBytes}`);
  }
  return { ...valid, payload };
}

function checkOccurredAt(value: Date | undefined, field: string, now: number): number {
  if (value === undefined) return now;
  const ms = value.getTime();
  if (!Number.isFinite(ms) || ms <= 0) throw new InputError(field, 'must be a valid time after 1970');
  if (ms > now + MAX_FUTURE_MS) throw new InputError(field, 'is more than 24 hours in the future');
  return ms;
}

/** The body of every POST for this event (DESIGN.md, "What a receiver gets"). */
export function renderPayload(
  event: Omit<ValidEvent, 'payload'>,
  data: Readonly<Record<string, unknown>>,
): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: new Date(event.occurredAt).toISOString(),
    tenant_id: event.tenantId,
    organization: event.organizationId === null ? null : { id: event.organizationId },
    data,
  });
}

/** Refuses data holding a key named "__proto__" (see proto-keys.ts), naming its path. */
export function checkNoProtoKey(data: unknown, json: string, field: string): void {
  const path = protoKeyPath(data, json, field);
  if (path !== undefined) throw new InputError(path, 'a key named "__proto__" is not accepted: JavaScript reads it as the object\'s prototype');
}

/** Echoes a caller's value in an error only as far as it is harmless: short, no controls. */
function printable(value: string): string {
  return value.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
}
