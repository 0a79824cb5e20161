/**
 * Writes what a batch of attempts did, in one transaction: the attempt rows, each delivery's new
 * state, each webhook's counters, and (when an endpoint is judged dead) its disabling. Each
 * delivery update is fenced by its claim id, so a worker whose lease ran out (and whose row
 * another worker has claimed since) changes nothing but the history of what it did.
 */
import type { Knex } from 'knex';
import type { AttemptResult } from '../delivery/attempt';
import { disableReason, type HealthPolicy } from '../delivery/endpoint-health';
import { caseWhen, type Fragment, type SqlValue } from '../db/case-when';
import { isMysql } from '../db/connect';
import { retryOnDeadlock } from '../db/deadlock';
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
  return db.transaction(async (trx) => {
    const keptIds = await updateDeliveries(trx, attempts);
    const kept = attempts.map((a) => keptIds.has(a.claimed.id));
    // A lost lease keeps the history of what its worker did; a delivery deleted with its
    // webhook meanwhile gets no orphan attempt.
    const lost = attempts.filter((_, i) => !kept[i]).map((a) => a.claimed.id);
    const stillThere = new Set(
      lost.length === 0 ? [] : ((await trx('deliveries').whereIn('id', lost).pluck('id')) as string[]),
    );
    const rows = attempts.filter((a, i) => kept[i] || stillThere.has(a.claimed.id)).map(attemptRow);
    for (let i = 0; i < rows.length; i += 500) await trx('delivery_attempts').insert(rows.slice(i, i + 500));
    const disabled = await countAndJudge(trx, attempts.filter((_, i) => kept[i]), health);
    return attempts.map((a, i) => ({ kept: kept[i]!, disabledReason: kept[i] ? disabled.get(a.claimed.webhookId) : undefined }));
  });
}

/** Counters of every webhook in the batch, then endpoint health for webhooks whose batch ended failing. */
async function countAndJudge(trx: Knex, attempts: readonly AttemptRecord[], health: HealthPolicy): Promise<Map<string, string>> {
  const byWebhook = new Map<string, AttemptRecord[]>();
  for (const a of attempts) {
    const list = byWebhook.get(a.claimed.webhookId);
    if (list) list.push(a);
    else byWebhook.set(a.claimed.webhookId, [a]);
  }
  await countAttempts(
    trx,
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
    const streak = await streakOf(trx, tenantId, webhookId);
    const reason = disableReason((gone ?? last).result, streak, health, last.at);
    if (reason === undefined) continue;
    await disableWebhook(trx, tenantId, webhookId, reason, last.at);
    disabled.set(webhookId, reason);
  }
  return disabled;
}

function finishedAs(outcome: Outcome): 'succeeded' | 'failed' | null {
  return outcome.status === 'pending' ? null : outcome.status;
}

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
async function updateDeliveries(trx: Knex, attempts: readonly AttemptRecord[]): Promise<Set<string>> {
  const fenced = trx('deliveries')
    .whereIn(
      ['id', 'claim_id'],
      attempts.map((a) => [a.claimed.id, a.claimed.claimId]),
    )
    .select('id');
  if (isMysql(trx)) void fenced.forUpdate();
  const keptIds = new Set(((await fenced) as Array<{ id: string }>).map((r) => r.id));
  const kept = attempts.filter((a) => keptIds.has(a.claimed.id));
  if (kept.length === 0) return keptIds;
  // A delivery paused while its attempt was in flight (its webhook was disabled) stays paused
  // instead of being scheduled again.
  const stillPaused = (value: SqlValue): Fragment => ({ sql: "CASE WHEN status = 'paused' THEN NULL ELSE ? END", bindings: [value] });
  await trx('deliveries')
    .whereIn(
      'id',
      kept.map((a) => a.claimed.id),
    )
    .update({
      status: perRow(trx, kept, ({ outcome }) =>
        outcome.status === 'pending' ? { sql: "CASE WHEN status = 'paused' THEN 'paused' ELSE 'pending' END", bindings: [] } : outcome.status,
      ),
      next_attempt_at: perRow(trx, kept, ({ outcome }) => (outcome.status === 'pending' ? stillPaused(outcome.nextAttemptAt) : null)),
      attempt_count: trx.raw('attempt_count + 1'),
      claim_id: null,
      last_status_code: perRow(trx, kept, ({ result }) => result.statusCode),
      last_error: perRow(trx, kept, ({ result }) => (result.errorMessage === null ? null : describe(result).slice(0, 1024))),
      completed_at: perRow(trx, kept, ({ outcome, at }) => (outcome.status === 'pending' ? null : at)),
      updated_at: Math.max(...kept.map((a) => a.at)),
    });
  return keptIds;
}

/** One value per attempt's row, by delivery id. */
function perRow(trx: Knex, attempts: readonly AttemptRecord[], valueOf: (a: AttemptRecord) => SqlValue | Fragment): Knex.Raw {
  return caseWhen(trx, 'id', attempts, (a) => a.claimed.id, valueOf);
}

/** Ends a delivery that cannot be attempted (its webhook is gone), fenced like an attempt. */
export async function abandon(db: Knex, claimed: ClaimedDelivery, reason: string, now: number): Promise<void> {
  await db('deliveries')
    .where({ id: claimed.id, claim_id: claimed.claimId })
    .update({ status: 'failed', claim_id: null, next_attempt_at: null, last_error: reason, completed_at: now, updated_at: now });
}

/** Gives claimed deliveries back, due now: a stopping worker's unsent work, for another. */
export async function releaseClaims(db: Knex, claims: ReadonlyArray<{ id: string; claimId: string }>, now: number): Promise<void> {
  for (let i = 0; i < claims.length; i += 500) {
    await db('deliveries')
      .whereIn(
        ['id', 'claim_id'],
        claims.slice(i, i + 500).map((c) => [c.id, c.claimId]),
      )
      .andWhere('status', 'pending')
      .update({ claim_id: null, next_attempt_at: now, updated_at: now });
  }
}

function describe(result: AttemptResult): string {
  return result.errorClass === null ? result.errorMessage ?? '' : `${result.errorClass}: ${result.errorMessage ?? ''}`;
}
