/**
 * A disabled webhook's deliveries are paused, not dropped: they keep their place and go out when
 * the webhook is enabled again, unless the admin discards them. Deliveries in flight are paused
 * too; the attempt's fenced write keeps them paused (src/outbox/record.ts).
 *
 * A claimed delivery keeps its claim id and its lease end (next_attempt_at) while paused: its
 * attempt may still be under way, and resuming it must not make it due for a second worker
 * while the first is still sending it (the receiver got the same delivery twice at once, and the
 * first attempt's write was fenced out as a lost lease).
 */
import type { Knex } from 'knex';
import type { Tx } from '../db/transaction';

/** A webhook's pending deliveries become paused; a claimed one keeps its lease end. */
const PAUSE_SQL =
  "UPDATE deliveries SET status = 'paused', next_attempt_at = CASE WHEN claim_id IS NULL THEN NULL ELSE next_attempt_at END, updated_at = ? " +
  "WHERE tenant_id = ? AND webhook_id = ? AND status = 'pending'";

export async function pauseDeliveries(db: Knex, tenantId: string, webhookId: string, now: number): Promise<void> {
  await db.raw(PAUSE_SQL, [now, tenantId, webhookId]);
}

/**
 * Paused deliveries become due now, or are ended as failed when discarded. One whose lease is
 * still running stays claimed and falls due when its lease ends: its worker's write (fenced by
 * the claim id) settles it before then, or, if that worker died, any worker takes it after. Such
 * a one is not discarded either: its POST may have reached the receiver, and a delivery ended
 * as "never sent" beside the attempt row its worker then writes would contradict it.
 */
export async function resumeDeliveries(
  db: Knex,
  tenantId: string,
  webhookId: string,
  discard: boolean,
  now: number,
): Promise<number> {
  const paused = () => db('deliveries').where({ tenant_id: tenantId, webhook_id: webhookId, status: 'paused' });
  if (discard) {
    await paused().whereNotNull('claim_id').andWhere('next_attempt_at', '>', now).update({ status: 'pending', updated_at: now });
    return paused().update({
      status: 'failed',
      claim_id: null,
      last_error: 'discarded by the admin when the webhook was enabled again',
      completed_at: now,
      updated_at: now,
    });
  }
  return paused().update({
    status: 'pending',
    next_attempt_at: db.raw('CASE WHEN claim_id IS NOT NULL AND next_attempt_at > ? THEN next_attempt_at ELSE ? END', [now, now]),
    updated_at: now,
  });
}

/** A disabled webhook: it stops receiving, and its waiting deliveries are paused. */
export async function disableWebhook(tx: Tx, tenantId: string, webhookId: string, reason: string, now: number): Promise<void> {
  await tx.run('update', 'webhooks', 'UPDATE webhooks SET enabled = ?, disabled_reason = ?, updated_at = ? WHERE tenant_id = ? AND id = ?', [
    0,
    reason,
    now,
    tenantId,
    webhookId,
  ]);
  await tx.run('update', 'deliveries', PAUSE_SQL, [now, tenantId, webhookId]);
}
