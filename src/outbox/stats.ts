/**
 * A webhook's counters, updated in the attempt's own transaction so that GetWebhookStats reads a
 * row instead of scanning history, and the failure streak that endpoint health is judged on.
 */
import type { Knex } from 'knex';

export const HOUR_MS = 3600 * 1000;

export interface AttemptTally {
  readonly success: boolean;
  /** The delivery ended with this attempt: succeeded, or failed for good. */
  readonly finished: 'succeeded' | 'failed' | null;
  readonly at: number;
}

export interface Streak {
  readonly consecutiveFailures: number;
  readonly failingSince: number | null;
}

export async function countAttempt(db: Knex, tenantId: string, webhookId: string, tally: AttemptTally): Promise<void> {
  const { success, finished, at } = tally;
  await db('webhook_stats')
    .where({ webhook_id: webhookId, tenant_id: tenantId })
    .update({
      attempts: db.raw('attempts + 1'),
      attempts_succeeded: db.raw('attempts_succeeded + ?', [success ? 1 : 0]),
      deliveries_succeeded: db.raw('deliveries_succeeded + ?', [finished === 'succeeded' ? 1 : 0]),
      deliveries_failed: db.raw('deliveries_failed + ?', [finished === 'failed' ? 1 : 0]),
      consecutive_failures: success ? 0 : db.raw('consecutive_failures + 1'),
      failing_since: success ? null : db.raw('COALESCE(failing_since, ?)', [at]),
      ...(success ? { last_success_at: at } : { last_failure_at: at }),
    });
  const hourStart = Math.floor(at / HOUR_MS) * HOUR_MS;
  await db('webhook_stats_hourly')
    .insert({ webhook_id: webhookId, tenant_id: tenantId, hour_start: hourStart, attempts: 1, successes: success ? 1 : 0 })
    .onConflict(['webhook_id', 'hour_start'])
    .merge({
      attempts: db.raw('?? + 1', ['webhook_stats_hourly.attempts']),
      successes: db.raw('?? + ?', ['webhook_stats_hourly.successes', success ? 1 : 0]),
    });
}

export async function streakOf(db: Knex, tenantId: string, webhookId: string): Promise<Streak> {
  const row = (await db('webhook_stats')
    .select('consecutive_failures', 'failing_since')
    .where({ webhook_id: webhookId, tenant_id: tenantId })
    .first()) as { consecutive_failures: number; failing_since: number | null } | undefined;
  return {
    consecutiveFailures: Number(row?.consecutive_failures ?? 0),
    failingSince: row?.failing_since == null ? null : Number(row.failing_since),
  };
}

/** A webhook enabled again starts a new streak. */
export async function resetStreak(db: Knex, tenantId: string, webhookId: string): Promise<void> {
  await db('webhook_stats')
    .where({ webhook_id: webhookId, tenant_id: tenantId })
    .update({ consecutive_failures: 0, failing_since: null });
}

/**
 * Delivery counts follow each delivery's current status: one leaving "failed" or "succeeded"
 * (sent again) is taken off, one discarded into "failed" is added. Negative numbers take off.
 */
export async function countStatusChange(
  db: Knex,
  tenantId: string,
  webhookId: string,
  delta: { succeeded?: number; failed?: number },
): Promise<void> {
  const succeeded = delta.succeeded ?? 0;
  const failed = delta.failed ?? 0;
  if (succeeded === 0 && failed === 0) return;
  await db('webhook_stats')
    .where({ webhook_id: webhookId, tenant_id: tenantId })
    .update({
      deliveries_succeeded: db.raw('deliveries_succeeded + ?', [succeeded]),
      deliveries_failed: db.raw('deliveries_failed + ?', [failed]),
    });
}
