/**
 * Writes what a batch of attempts did, in one transaction: the attempt rows, each delivery's new
 * state, each webhook's counters, and (when an endpoint is judged dead) its disabling. Each
 * delivery update is fenced by its claim id, so a worker whose lease ran out (and whose row
 * another worker has claimed since) changes nothing but the history of what it did.
 *
 * It runs in ingest's kind of transaction (src/db/transaction.ts): on MySQL a pooled connection
 * outside knex, whose query building and transaction objects cost the worker more CPU than the
 * statements' own round trips (BENCHMARKS.md, eighth session).
 */
import type { Knex } from 'knex';
import type { AttemptResult } from '../delivery/attempt';
import { disableReason, type HealthPolicy } from '../delivery/endpoint-health';
import { bound, caseWhen, inList, updateSql, type Fragment, type SqlValue } from '../db/case-when';
import { retryOnDeadlock } from '../db/deadlock';
import { transaction, type Tx } from '../db/transaction';
import type { ClaimedDelivery } from './claim';
import { disableWebhook } from './pause';
import { countAttempts, streakOf } from './stats';

export type Outcome =
  | { status: 'succeeded' }
  | { status: 'failed' }
  | { status: 'pending'; nextAttemptAt: number };

export interface Recorded {
  /** False when the lease had been lost: the delivery row was left alone. */
  readonly kept: boolean;
  /** Set when this batch got the attempt's webhook disabled. */
  readonly disabledReason?: string;
}

export interface AttemptRecord {
  readonly claimed: ClaimedDelivery;
  readonly result: AttemptResult;
  readonly outcome: Outcome;
  /** When the attempt ended. */
  readonly at: number;
}

/** One Recorded per attempt, in order. */
export async function recordAttempts(
  db: Knex,
  attempts: readonly AttemptRecord[],
  health: HealthPolicy,
): Promise<Recorded[]> {
  // Replicas' batches can still meet in a deadlock (InnoDB picks a victim); the victim's work
  // was rolled back whole, so writing it again is safe.
  return retryOnDeadlock(() => writeAttempts(db, attempts, health));
}

async function writeAttempts(
  db: Knex,
  attempts: readonly AttemptRecord[],
  health: HealthPolicy,
): Promise<Recorded[]> {
  return transaction(db, async (tx) => {
    const keptIds = await updateDeliveries(tx, attempts);
    const kept = attempts.map((a) => keptIds.has(a.claimed.id));
    // A lost lease keeps the history of what its worker did; a delivery deleted with its
    // webhook meanwhile gets no orphan attempt.
    const lost = inList(['id'], attempts.filter((_, i) => !kept[i]).map((a) => [a.claimed.id]));
    const stillThere = new Set(lost.bindings.length === 0 ? [] : await ids(tx, `SELECT id FROM deliveries WHERE ${lost.sql}`, lost.bindings));
    const rows = attempts.filter((a, i) => kept[i] || stillThere.has(a.claimed.id)).map(attemptRow);
    for (let i = 0; i < rows.length; i += 500) {
      await tx.insert('delivery_attempts', ATTEMPT_COLUMNS, rows.slice(i, i + 500), { prepared: false });
    }
    const disabled = await countAndJudge(tx, attempts.filter((_, i) => kept[i]), health);
    return attempts.map((a, i) => ({ kept: kept[i]!, disabledReason: kept[i] ? disabled.get(a.claimed.webhookId) : undefined }));
  });
}

async function ids(tx: Tx, sql: string, values: readonly SqlValue[]): Promise<string[]> {
  return (await tx.select<{ id: string }>('deliveries', sql, values)).map((r) => r.id);
}

/** Counters of every webhook in the batch, then endpoint health for webhooks whose batch ended failing. */
async function countAndJudge(tx: Tx, attempts: readonly AttemptRecord[], health: HealthPolicy): Promise<Map<string, string>> {
  const byWebhook = new Map<string, AttemptRecord[]>();
  for (const a of attempts) {
    const list = byWebhook.get(a.claimed.webhookId);
    if (list) list.push(a);
    else byWebhook.set(a.claimed.webhookId, [a]);
  }
  await countAttempts(
    tx,
    [...byWebhook].map(([webhookId, list]) => ({
      tenantId: list[0]!.claimed.tenantId,
      webhookId,
      tallies: list.map((a) => ({ success: a.outcome.status === 'succeeded', finished: finishedAs(a.outcome), at: a.at })),
    })),
  );
  const disabled = new Map<string, string>();
  for (const [webhookId, list] of byWebhook) {
    const tenantId = list[0]!.claimed.tenantId;
    const last = list[list.length - 1]!;
    const gone = list.find((a) => a.result.statusCode === 410);
    if (!gone && last.outcome.status === 'succeeded') continue;
    const streak = await streakOf(tx, tenantId, webhookId);
    const reason = disableReason((gone ?? last).result, streak, health, last.at);
    if (reason === undefined) continue;
    await disableWebhook(tx, tenantId, webhookId, reason, last.at);
    disabled.set(webhookId, reason);
  }
  return disabled;
}

function finishedAs(outcome: Outcome): 'succeeded' | 'failed' | null {
  return outcome.status === 'pending' ? null : outcome.status;
}

const ATTEMPT_COLUMNS = [
  'delivery_id',
  'tenant_id',
  'webhook_id',
  'attempt_number',
  'started_at',
  'duration_ms',
  'status_code',
  'response_body',
  'response_headers',
  'error_class',
  'error_message',
];

function attemptRow({ claimed, result }: AttemptRecord): Record<string, unknown> {
  return {
    delivery_id: claimed.id,
    tenant_id: claimed.tenantId,
    webhook_id: claimed.webhookId,
    attempt_number: claimed.attemptCount + 1,
    started_at: result.startedAt,
    duration_ms: result.durationMs,
    status_code: result.statusCode,
    response_body: result.responseBody,
    response_headers: JSON.stringify(result.responseHeaders),
    error_class: result.errorClass,
    error_message: result.errorMessage,
  };
}

/**
 * Each delivery's new state, in two statements for the whole batch instead of one per attempt
 * (at a few thousand attempts a second the round trips were the worker's cost): the rows whose
 * claim id still matches are locked, then updated together with per-row CASE values. Returns the
 * ids that were kept.
 */
async function updateDeliveries(tx: Tx, attempts: readonly AttemptRecord[]): Promise<Set<string>> {
  const fenced = inList(['id', 'claim_id'], attempts.map((a) => [a.claimed.id, a.claimed.claimId]));
  const keptIds = new Set(await ids(tx, `SELECT id FROM deliveries WHERE ${fenced.sql}${tx.mysql ? ' FOR UPDATE' : ''}`, fenced.bindings));
  const kept = attempts.filter((a) => keptIds.has(a.claimed.id));
  if (kept.length === 0) return keptIds;
  // A delivery paused while its attempt was in flight (its webhook was disabled) stays paused
  // instead of being scheduled again.
  const stillPaused = (value: SqlValue): Fragment => ({ sql: "CASE WHEN status = 'paused' THEN NULL ELSE ? END", bindings: [value] });
  const perRow = (valueOf: (a: AttemptRecord) => SqlValue | Fragment): Fragment => caseWhen('id', kept, (a) => a.claimed.id, valueOf);
  const update = updateSql(
    'deliveries',
    [
      ['status', perRow(({ outcome }) =>
        outcome.status === 'pending' ? { sql: "CASE WHEN status = 'paused' THEN 'paused' ELSE 'pending' END", bindings: [] } : outcome.status,
      )],
      ['next_attempt_at', perRow(({ outcome }) => (outcome.status === 'pending' ? stillPaused(outcome.nextAttemptAt) : null))],
      ['attempt_count', { sql: 'attempt_count + 1', bindings: [] }],
      ['claim_id', bound(null)],
      ['last_status_code', perRow(({ result }) => result.statusCode)],
      ['last_error', perRow(({ result }) => (result.errorMessage === null ? null : describe(result).slice(0, 1024)))],
      ['completed_at', perRow(({ outcome, at }) => (outcome.status === 'pending' ? null : at))],
      ['updated_at', bound(Math.max(...kept.map((a) => a.at)))],
    ],
    inList(['id'], kept.map((a) => [a.claimed.id])),
  );
  await tx.run('update', 'deliveries', update.sql, update.bindings);
  return keptIds;
}

/** Ends a delivery that cannot be attempted (its webhook is gone), fenced like an attempt. */
export async function abandon(db: Knex, claimed: ClaimedDelivery, reason: string, now: number): Promise<void> {
  await db('deliveries')
    .where({ id: claimed.id, claim_id: claimed.claimId })
    .update({ status: 'failed', claim_id: null, next_attempt_at: null, last_error: reason, completed_at: now, updated_at: now });
}

/**
 * Gives claimed deliveries back, due now: a stopping worker's unsent work, for another. One paused
 * meanwhile (its webhook was disabled) stays paused, unclaimed, so enabling the webhook makes it
 * due at once rather than when this lease would have ended. `pausedOnly` leaves pending rows
 * claimed: a worker that found the webhook disabled must not make them due for itself again.
 */
export async function releaseClaims(
  db: Knex,
  claims: ReadonlyArray<{ id: string; claimId: string }>,
  now: number,
  pausedOnly = false,
): Promise<void> {
  for (let i = 0; i < claims.length; i += 500) {
    await db('deliveries')
      .whereIn(
        ['id', 'claim_id'],
        claims.slice(i, i + 500).map((c) => [c.id, c.claimId]),
      )
      .whereIn('status', pausedOnly ? ['paused'] : ['pending', 'paused'])
      .update({ claim_id: null, next_attempt_at: db.raw("CASE WHEN status = 'paused' THEN NULL ELSE ? END", [now]), updated_at: now });
  }
}

function describe(result: AttemptResult): string {
  return result.errorClass === null ? result.errorMessage ?? '' : `${result.errorClass}: ${result.errorMessage ?? ''}`;
}
