/**
 * Writes what an attempt did: the attempt row and the delivery's new state, in one transaction.
 * The delivery update is fenced by the claim id, so a worker whose lease ran out (and whose row
 * another worker has claimed since) changes nothing but the history of what it did.
 */
import type { Knex } from 'knex';
import type { AttemptResult } from '../delivery/attempt';
import type { ClaimedDelivery } from './claim';

export type Outcome =
  | { status: 'succeeded' }
  | { status: 'failed' }
  | { status: 'pending'; nextAttemptAt: number };

/** Returns false when the lease had been lost: the delivery row was left alone. */
export async function recordAttempt(
  db: Knex,
  claimed: ClaimedDelivery,
  result: AttemptResult,
  outcome: Outcome,
  now: number,
): Promise<boolean> {
  return db.transaction(async (trx) => {
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
    const updated = await trx('deliveries')
      .where({ id: claimed.id, claim_id: claimed.claimId })
      .update({
        status: outcome.status,
        attempt_count: claimed.attemptCount + 1,
        next_attempt_at: outcome.status === 'pending' ? outcome.nextAttemptAt : null,
        claim_id: null,
        last_status_code: result.statusCode,
        last_error: result.errorMessage === null ? null : describe(result).slice(0, 1024),
        completed_at: outcome.status === 'pending' ? null : now,
        updated_at: now,
      });
    return updated > 0;
  });
}

/** Ends a delivery that cannot be attempted (its webhook is gone), fenced like an attempt. */
export async function abandon(db: Knex, claimed: ClaimedDelivery, reason: string, now: number): Promise<void> {
  await db('deliveries')
    .where({ id: claimed.id, claim_id: claimed.claimId })
    .update({ status: 'failed', claim_id: null, next_attempt_at: null, last_error: reason, completed_at: now, updated_at: now });
}

function describe(result: AttemptResult): string {
  return result.errorClass === null ? result.errorMessage ?? '' : `${result.errorClass}: ${result.errorMessage ?? ''}`;
}
