/**
 * Writes events and their deliveries (the outbox rows) in one transaction. A repeated
 * (tenant_id, id) creates nothing and answers with what the first one created.
 */
import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/connect';
import { retryOnDeadlock } from '../db/deadlock';
import { transaction, type Tx } from '../db/transaction';
import type { ClaimedDelivery } from '../outbox/claim';
import { DELIVERY_COLUMNS, EVENT_COLUMNS, PAYLOAD_COLUMNS, WIDE_EVENT_COLUMNS, deliveryRow, eventRow } from './outbox-rows';
import { loadSubscriptions, subscribes, type Subscription } from './subscriptions';
import type { ValidEvent } from './validate-event';

/**
 * Places in the local delivery worker for deliveries as they are written: a delivery taken is
 * written already claimed (under `claimId`, leased until `leaseExpiresAt`) and goes to the worker
 * after the commit, without a claim transaction of its own. Others are written due, for a claim.
 */
export interface Handoff {
  readonly claimId: string;
  readonly leaseExpiresAt: number;
  /**
   * Reserves a place for one delivery to this webhook, stored under tenantId (the webhook's
   * scope: PLATFORM_SCOPE for a platform webhook); false leaves it to a claim.
   */
  take(webhookId: string, tenantId: string): boolean;
  /** Gives back every place reserved so far (the transaction was rolled back). */
  release(): void;
  /** After the commit: the deliveries written claimed, for the worker; unused places are given back. */
  deliver(claimed: readonly ClaimedDelivery[]): void;
}

export interface StoredEvent {
  readonly eventId: string;
  readonly duplicate: boolean;
  readonly deliveryCount: number;
  /**
   * Of those, the ones written due and not handed to the local worker: only they need a claim.
   * (Paused deliveries wait for their webhook; handed-off ones are the worker's already.)
   */
  readonly dueForClaim: number;
}

/** Rows per multi-row INSERT: events can be 64 KiB each, and SQLite caps bound variables. */
const EVENT_CHUNK = 100;
const DELIVERY_CHUNK = 500;
/**
 * Payload bytes per multi-row INSERT at most (a single larger event still goes alone): with
 * WEBHOOKS_MAX_EVENT_BYTES at its 1 MiB maximum, a group commit's events in one statement passed
 * MariaDB's max_allowed_packet (16 MiB by default), which resets the connection, and every call
 * in the commit failed, again on each retry. 4 MiB leaves room for escaping and the other columns.
 */
const CHUNK_PAYLOAD_BYTES = 4 * 1024 * 1024;
/**
 * Rows from which an INSERT is a prepared statement (src/db/transaction.ts). MariaDB then skips
 * lexing each value, the event bodies above all, which pays at a hundred rows; but a prepared
 * statement is a round trip of its own, while an INSERT as text waits and goes with the COMMIT.
 * A live event, a few rows, thus costs the client and MariaDB one round trip less per table.
 */
const PREPARED_MIN_ROWS = 16;

export async function storeEvents(
  db: Knex,
  events: readonly ValidEvent[],
  now: number,
  handoff?: Handoff,
  separateBodies = false,
): Promise<StoredEvent[]> {
  const claimed: ClaimedDelivery[] = [];
  // A transaction that failed was rolled back whole: the places it took go back before the next.
  const write = (readStored: boolean) =>
    retryOnDeadlock(async () => {
      try {
        return await transaction(db, (tx) => writeEvents(db, tx, events, now, handoff, claimed, readStored, separateBodies));
      } catch (err) {
        handoff?.release();
        claimed.length = 0;
        throw err;
      }
    });
  let stored: StoredEvent[];
  try {
    // Most events are new: insert them straight away, without first reading which exist
    // (that read is one more round trip and up to a hundred key lookups per batch).
    stored = await write(false);
  } catch (err) {
    // One of these ids is stored already (or another call committed it meanwhile): run
    // again, and this time read which exist, so repeats are answered as duplicates.
    if (!isUniqueViolation(err)) throw err;
    stored = await writeReadingStored(write);
  }
  handoff?.deliver(claimed);
  return stored;
}

/**
 * Runs of a batch that read which ids are stored first, at most. Another replica can commit one
 * of its ids between a run's read and its write (the identity core retrying the same event
 * elsewhere); the next run, a new transaction, reads that row too. A failure every time is no
 * longer a race but something else, and fails the batch.
 */
const READ_STORED_RUNS = 3;

async function writeReadingStored(write: (readStored: boolean) => Promise<StoredEvent[]>): Promise<StoredEvent[]> {
  for (let run = 1; ; run += 1) {
    try {
      return await write(true);
    } catch (err) {
      if (!isUniqueViolation(err) || run >= READ_STORED_RUNS) throw err;
    }
  }
}

async function writeEvents(
  db: Knex,
  tx: Tx,
  events: readonly ValidEvent[],
  now: number,
  handoff: Handoff | undefined,
  claimed: ClaimedDelivery[],
  readStored: boolean,
  separateBodies: boolean,
): Promise<StoredEvent[]> {
  const known = readStored ? await findStored(db, tx, events) : new Map<string, number>();
  const fresh = events.filter((e) => !known.has(keyOf(e)));
  const subscriptions = await loadSubscriptions(tx, [...new Set(fresh.map((e) => e.tenantId))]);
  const eventRows: Record<string, unknown>[] = [];
  const payloadRows: Record<string, unknown>[] = [];
  const deliveryRows: Record<string, unknown>[] = [];
  const results = events.map((event): StoredEvent => {
    const key = keyOf(event);
    const earlier = known.get(key);
    if (earlier !== undefined) return { eventId: event.id, duplicate: true, deliveryCount: earlier, dueForClaim: 0 };
    const targets = (subscriptions.get(event.tenantId) ?? []).filter((s) => subscribes(s, event));
    known.set(key, targets.length); // a repeat later in the same batch is a duplicate
    const rows = eventRow(event, targets.length, now, separateBodies);
    eventRows.push(rows.event);
    if (rows.payload) payloadRows.push(rows.payload);
    let dueForClaim = 0;
    for (const sub of targets) {
      const row = deliveryRow(event, sub.id, now, sub.enabled, sub.tenantId);
      if (sub.enabled && handoff?.take(sub.id, sub.tenantId)) {
        row.claim_id = handoff.claimId;
        row.next_attempt_at = handoff.leaseExpiresAt;
        claimed.push(handedOff(event, sub, row.id as string, handoff));
      } else if (sub.enabled) {
        dueForClaim += 1;
      }
      deliveryRows.push(row);
    }
    return { eventId: event.id, duplicate: false, deliveryCount: targets.length, dueForClaim };
  });
  // The events first: a repeated id fails there, before anything else is written.
  await insertChunks(tx, 'events', separateBodies ? EVENT_COLUMNS : WIDE_EVENT_COLUMNS, eventRows, EVENT_CHUNK);
  await insertChunks(tx, 'event_payloads', PAYLOAD_COLUMNS, payloadRows, EVENT_CHUNK);
  await insertChunks(tx, 'deliveries', DELIVERY_COLUMNS, deliveryRows, DELIVERY_CHUNK);
  return results;
}

function handedOff(event: ValidEvent, sub: Subscription, id: string, handoff: Handoff): ClaimedDelivery {
  return {
    id,
    claimId: handoff.claimId,
    tenantId: sub.tenantId,
    webhookId: sub.id,
    eventId: event.id,
    eventType: event.type,
    attemptCount: 0,
    payload: event.payload,
    traceContext: event.traceContext ?? null,
    leaseExpiresAt: handoff.leaseExpiresAt,
    leaseExpired: false,
    webhook: {
      url: sub.url,
      secretSealed: sub.secretSealed,
      previousSecretSealed: sub.previousSecretSealed,
      previousSecretExpiresAt: sub.previousSecretExpiresAt,
      olderSecretsSealed: sub.olderSecretsSealed,
      enabled: sub.enabled,
    },
  };
}

/** The stored events among these, with their delivery counts (knex writes the dialect's tuple IN). */
async function findStored(db: Knex, tx: Tx, events: readonly ValidEvent[]): Promise<Map<string, number>> {
  const { sql, bindings } = db('events')
    .select('tenant_id', 'id', 'delivery_count')
    .whereIn(
      ['tenant_id', 'id'],
      events.map((e) => [e.tenantId, e.id]),
    )
    .toSQL()
    .toNative();
  const rows = await tx.select<{ tenant_id: string; id: string; delivery_count: number }>('events', sql, bindings);
  return new Map(rows.map((r) => [keyOf({ tenantId: r.tenant_id, id: r.id }), r.delivery_count]));
}

/** An event's identity for dedupe: (tenant_id, id). */
export function keyOf(event: Pick<ValidEvent, 'tenantId' | 'id'>): string {
  return `${event.tenantId}\u0000${event.id}`;
}

async function insertChunks(
  tx: Tx,
  table: string,
  columns: readonly string[],
  rows: readonly Record<string, unknown>[],
  maxRows: number,
): Promise<void> {
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let bytes = 0;
    while (end < rows.length && end - start < maxRows) {
      const payload = rows[end]!.payload;
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : 0;
      if (end > start && bytes + size > CHUNK_PAYLOAD_BYTES) break;
      bytes += size;
      end += 1;
    }
    await tx.insert(table, columns, rows.slice(start, end), { prepared: end - start >= PREPARED_MIN_ROWS });
    start = end;
  }
}
