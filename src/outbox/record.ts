/**
 * Writes what an attempt did, in one transaction: the attempt row, the delivery's new state, the
 * webhook's counters, and (when its endpoint is judged dead) the webhook's disabling. The
 * delivery update is fenced by the claim id, so a worker whose lease ran out (and whose row
 * another worker has claimed since) changes nothing but the history of what it did.
 */
import type { Knex } from 'knex';
import type { AttemptResult } from '../delivery/attempt';
import { disableReason, type HealthPolicy } from '../delivery/endpoint-health';
import type { ClaimedDelivery } from './claim';
import { disableWebhook } from './pause';
import { countAttempt, streakOf } from './stats';

export type Outcome =
  | { status: 'succeeded' }
  | { status: 'failed' }
  | { status: 'pending'; nextAttemptAt: number };

export interface Recorded {
  /** False when the lease had been lost: the delivery row was left alone. */
  readonly kept: boolean;
  /** Set when this attempt got the webhook disabled. */
  readonly disabledReason?: string;
}

export async function recordAttempt(
  db: Knex,
  claimed: ClaimedDelivery,
  result: AttemptResult,
  outcome: Outcome,
  health: HealthPolicy,
  now: number,
): Promise<Recorded> {
  return db.transaction(async (trx) => {
    const kept = await updateDelivery(trx, claimed, result, outcome, now);
    if (!kept) {
      // A lost lease keeps the history of what this worker did; a delivery deleted with its
      // webhook meanwhile gets no orphan attempt.
      if (await trx('deliveries').where('id', claimed.id).first('id')) await insertAttempt(trx, claimed, result);
      return { kept };
    }
    await insertAttempt(trx, claimed, result);
    const success = outcome.status === 'succeeded';
    const finished = outcome.status === 'pending' ? null : outcome.status;
    await countAttempt(trx, claimed.tenantId, claimed.webhookId, { success, finished, at: now });
    if (success) return { kept };
    const reason = disableReason(result, await streakOf(trx, claimed.tenantId, claimed.webhookId), health, now);
    if (reason !== undefined) await disableWebhook(trx, claimed.tenantId, claimed.webhookId, reason, now);
    return { kept, disabledReason: reason };
  });
}

async function insertAttempt(trx: Knex, claimed: ClaimedDelivery, result: AttemptResult): Promise<void> {
  await trx('delivery_attempts').insert({
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
  });
}

async function updateDelivery(
  trx: Knex,
  claimed: ClaimedDelivery,
  result: AttemptResult,
  outcome: Outcome,
  now: number,
): Promise<boolean> {
  const retrying = outcome.status === 'pending';
  const updated = await trx('deliveries')
    .where({ id: claimed.id, claim_id: claimed.claimId })
    .update({
      // A delivery paused while its attempt was in flight (its webhook was disabled) stays
      // paused instead of being scheduled again.
      status: retrying ? trx.raw("CASE WHEN status = 'paused' THEN 'paused' ELSE 'pending' END") : outcome.status,
      next_attempt_at: retrying ? trx.raw("CASE WHEN status = 'paused' THEN NULL ELSE ? END", [outcome.nextAttemptAt]) : null,
      attempt_count: claimed.attemptCount + 1,
      claim_id: null,
      last_status_code: result.statusCode,
      last_error: result.errorMessage === null ? null : describe(result).slice(0, 1024),
      completed_at: retrying ? null : now,
      updated_at: now,
    });
  return updated > 0;
}

/** Ends a delivery that cannot be attempted (its webhook is gone), fenced like an attempt. */
export async function abandon(db: Knex, claimed: ClaimedDelivery, reason: string, now: number): Promise<void> {
  await db('deliveries')
    .where({ id: claimed.id, claim_id: claimed.claimId })
    .update({ status: 'failed', claim_id: null, next_attempt_at: null, last_error: reason, completed_at: now, updated_at: now });
}

/** Gives claimed deliveries back, due now: a stopping worker's in-flight work for another. */
export async function releaseClaims(db: Knex, claims: ReadonlyArray<{ id: string; claimId: string }>, now: number): Promise<void> {
  for (const { id, claimId } of claims) {
    await db('deliveries')
      .where({ id, claim_id: claimId, status: 'pending' })
      .update({ claim_id: null, next_attempt_at: now, updated_at: now });
  }
}

function describe(result: AttemptResult): string {
  return result.errorClass === null ? result.errorMessage ?? '' : `${result.errorClass}: ${result.errorMessage ?? ''}`;
}
