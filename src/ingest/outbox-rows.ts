/**
 * The outbox's rows as ingest writes them: an event's row (and its body's, when bodies are kept
 * apart) and a delivery's, with the columns they fill. Ingest (src/ingest/event-store.ts) writes
 * them in its transaction; test events, redeliveries, the bench and tests use them too.
 */
import type { Knex } from 'knex';
import { newDeliveryId, newPayloadId } from '../ids';
import type { ValidEvent } from './validate-event';

/**
 * The columns eventRow fills, with the body apart (EVENT_COLUMNS, and PAYLOAD_COLUMNS for the
 * body's row) or in the row (WIDE_EVENT_COLUMNS); and deliveryRow's (claim_id only for a
 * delivery handed off).
 */
export const EVENT_COLUMNS = ['tenant_id', 'id', 'type', 'organization_id', 'occurred_at', 'created_at', 'delivery_count', 'payload_id'];
export const WIDE_EVENT_COLUMNS = ['tenant_id', 'id', 'type', 'organization_id', 'occurred_at', 'created_at', 'delivery_count', 'payload', 'trace_context'];
export const PAYLOAD_COLUMNS = ['id', 'payload', 'trace_context'];
export const DELIVERY_COLUMNS = ['id', 'tenant_id', 'event_tenant_id', 'webhook_id', 'event_id', 'event_type', 'status', 'attempt_count', 'next_attempt_at', 'created_at', 'updated_at', 'claim_id'];

/**
 * An event's row in events (the dedupe key and what the history shows), with its body in it;
 * or, with `separate`, the row naming its body by payload_id and the body's own row for
 * event_payloads, keyed by a new ULID so bodies are appended in arrival order (see the
 * event_payloads migration). Both go in the same transaction.
 */
export function eventRow(
  event: ValidEvent,
  deliveryCount: number,
  now: number,
  separate = false,
): { event: Record<string, unknown>; payload?: Record<string, unknown> } {
  const row: Record<string, unknown> = {
    tenant_id: event.tenantId,
    id: event.id,
    type: event.type,
    organization_id: event.organizationId,
    occurred_at: event.occurredAt,
    created_at: now,
    delivery_count: deliveryCount,
  };
  const traceContext = event.traceContext ?? null;
  if (!separate) {
    row.payload = event.payload;
    row.trace_context = traceContext;
    return { event: row };
  }
  row.payload_id = newPayloadId();
  return { event: row, payload: { id: row.payload_id, payload: event.payload, trace_context: traceContext } };
}

/** Writes events' rows (eventRow) outside ingest: test events, and tests. */
export async function insertEvents(
  trx: Knex,
  events: readonly ValidEvent[],
  deliveryCount: number,
  now: number,
  separate = false,
): Promise<void> {
  const rows = events.map((e) => eventRow(e, deliveryCount, now, separate));
  await trx('events').insert(rows.map((r) => r.event));
  const payloads = rows.flatMap((r) => (r.payload ? [r.payload] : []));
  if (payloads.length > 0) await trx('event_payloads').insert(payloads);
}

/**
 * A delivery due now, or paused when its webhook is disabled. `scope` is the webhook's tenant:
 * a platform webhook's delivery is stored under PLATFORM_SCOPE, out of every tenant's sight.
 * event_tenant_id names the tenant whose event it carries, always (its index tells retention
 * which events deliveries still need).
 */
export function deliveryRow(
  event: ValidEvent,
  webhookId: string,
  now: number,
  enabled = true,
  scope = event.tenantId,
): Record<string, unknown> {
  return {
    id: newDeliveryId(),
    tenant_id: scope,
    event_tenant_id: event.tenantId,
    webhook_id: webhookId,
    event_id: event.id,
    event_type: event.type,
    status: enabled ? 'pending' : 'paused',
    attempt_count: 0,
    next_attempt_at: enabled ? now : null,
    created_at: now,
    updated_at: now,
  };
}
