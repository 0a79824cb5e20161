/**
 * Writes what a batch of attempts did, in one transaction: the attempt rows, each delivery's new
 * state, each webhook's counters, and (when an endpoint is judged dead) its disabling. Each
 * delivery update is fenced by its claim id, so a worker whose lease ran out (and whose row
 * another worker has claimed since) changes nothing but the history of what it did: its attempt,
 * marked lease_lost, numbered and counted like any other (a receiver may have seen that POST).
 *
 * It runs in ingest's kind of transaction (src/db/transaction.ts): on MySQL a pooled connection
 * outside knex, whose query building and transaction objects cost the worker more CPU than the
 * statements' own round trips (BENCHMARKS.md, eighth session).
 */
import type { Knex } from 'knex';
import { isSuccess, type AttemptResult } from '../delivery/attempt';
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
    const rows = await lockDeliveries(tx, attempts);
    const kept = attempts.map((a) => rows.get(a.claimed.id)?.claimId === a.claimed.claimId);
    // A lost lease keeps the history of what its worker did (a receiver saw that POST); a
    // delivery deleted with its webhook meanwhile gets no orphan attempt.
    const recorded = attempts.map((a, i) => ({ ...a, kept: kept[i]! })).filter((a) => rows.has(a.claimed.id));
    const numbers = attemptNumbers(recorded, rows);
    await updateDeliveries(tx, recorded.filter((a) => a.kept));
    await countLostAttempts(tx, recorded.filter((a) => !a.kept));
    const attemptRows = recorded.map((a, i) => attemptRow(a, numbers[i]!));
    for (let i = 0; i < attemptRows.length; i += 500) {
      await tx.insert('delivery_attempts', ATTEMPT_COLUMNS, attemptRows.slice(i, i + 500), { prepared: false });
    }
    const disabled = await countAndJudge(tx, recorded, health);
    return attempts.map((a, i) => ({ kept: kept[i]!, disabledReason: kept[i] ? disabled.get(a.claimed.webhookId) : undefined }));
  });
}

interface LockedDelivery {
  readonly claimId: string | null;
  readonly attemptCount: number;
}

/**
 * The batch's deliveries that still exist, locked (on MySQL) until the batch commits: their claim
 * ids fence the attempts, and their attempt counts number them. Rows of lost leases are locked too,
 * so that their attempts and the current owner's are numbered one after the other.
 */
async function lockDeliveries(tx: Tx, attempts: readonly AttemptRecord[]): Promise<Map<string, LockedDelivery>> {
  const list = inList(['id'], [...new Set(attempts.map((a) => a.claimed.id))].map((id) => [id]));
  const rows = await tx.select<{ id: string; claim_id: string | null; attempt_count: number }>(
    'deliveries',
    `SELECT id, claim_id, attempt_count FROM deliveries WHERE ${list.sql}${tx.mysql ? ' FOR UPDATE' : ''}`,
    list.bindings,
  );
  return new Map(rows.map((r) => [r.id, { claimId: r.claim_id, attemptCount: Number(r.attempt_count) }]));
}

/**
 * Every attempt recorded takes the next number of its delivery, whether its lease held or not: an
 * attempt whose lease was lost and the one made by the worker that took the delivery over are two
 * POSTs, and the history numbers them 1, 2, not 1, 1.
 */
function attemptNumbers(recorded: readonly AttemptRecord[], rows: ReadonlyMap<string, LockedDelivery>): number[] {
  const counts = new Map([...rows].map(([id, row]) => [id, row.attemptCount]));
  return recorded.map((a) => {
    const next = counts.get(a.claimed.id)! + 1;
    counts.set(a.claimed.id, next);
    return next;
  });
}

/**
 * An attempt whose lease was lost leaves the delivery to its new owner but still counts in its
 * attempt_count, so that the count, the history and the webhook's counters agree.
 */
async function countLostAttempts(tx: Tx, lost: readonly AttemptRecord[]): Promise<void> {
  if (lost.length === 0) return;
  const perDelivery = new Map<string, number>();
  for (const a of lost) perDelivery.set(a.claimed.id, (perDelivery.get(a.claimed.id) ?? 0) + 1);
  const ids = [...perDelivery.keys()];
  const update = updateSql(
    'deliveries',
    [['attempt_count', caseWhen('id', ids, (id) => id, (id) => ({ sql: 'attempt_count + ?', bindings: [perDelivery.get(id)!] }))]],
    inList(['id'], ids.map((id) => [id])),
  );
  await tx.run('update', 'deliveries', update.sql, update.bindings);
}

type RecordedAttempt = AttemptRecord & { readonly kept: boolean };

/**
 * Counters of every webhook in the batch, then endpoint health for webhooks whose batch ended
 * failing. An attempt whose lease was lost counts as an attempt (a receiver saw it) but not in
 * the delivery counts or the failure streak: its delivery's outcome is its new owner's, and its
 * failure may be its own worker's stall (a timeout while that process was paused).
 */
async function countAndJudge(tx: Tx, attempts: readonly RecordedAttempt[], health: HealthPolicy): Promise<Map<string, string>> {
  const byWebhook = new Map<string, RecordedAttempt[]>();
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
      tallies: list.map((a) => ({ success: isSuccess(a.result), finished: a.kept ? finishedAs(a.outcome) : null, judged: a.kept, at: a.at })),
    })),
  );
  const disabled = new Map<string, string>();
  for (const [webhookId, all] of byWebhook) {
    const list = all.filter((a) => a.kept);
    if (list.length === 0) continue;
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

function attemptRow({ claimed, result, kept }: RecordedAttempt, attemptNumber: number): Record<string, unknown> {
  return {
    delivery_id: claimed.id,
    tenant_id: claimed.tenantId,
    webhook_id: claimed.webhookId,
    attempt_number: attemptNumber,
    started_at: result.startedAt,
    duration_ms: result.durationMs,
    status_code: result.statusCode,
    response_body: result.responseBody,
    response_headers: JSON.stringify(result.responseHeaders),
    error_class: kept ? result.errorClass : LEASE_LOST,
    error_message: kept ? result.errorMessage : leaseLostMessage(result),
  };
}

/**
 * The error class of an attempt whose lease ran out before it was recorded: another worker had
 * taken the delivery over, and made an attempt of its own. What the receiver answered stays in the
 * status code and body; the message says what the attempt's own error was.
 */
export const LEASE_LOST = 'lease_lost';

function leaseLostMessage(result: AttemptResult): string {
  const ended = result.errorClass === null ? `HTTP ${result.statusCode ?? 0}` : describe(result);
  return `lease lost before this attempt was recorded; another worker took the delivery over (this attempt: ${ended})`.slice(0, 1024);
}

/**
 * Each kept delivery's new state, in one statement for the whole batch instead of one per attempt
 * (at a few thousand attempts a second the round trips were the worker's cost), with per-row CASE
 * values. The rows were locked by lockDeliveries.
 */
async function updateDeliveries(tx: Tx, kept: readonly AttemptRecord[]): Promise<void> {
  if (kept.length === 0) return;
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
