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

/**
 * Counts a webhook's attempts of one batch, in the order they happened, with one UPDATE and one
 * upsert per hour: a batch of 200 attempts to one endpoint takes that row's lock once, not 200
 * times (the lock every replica's attempts to that webhook queue on).
 */
export async function countAttempts(
  db: Knex,
  tenantId: string,
  webhookId: string,
  tallies: readonly AttemptTally[],
): Promise<void> {
  if (tallies.length === 0) return;
  const lastSuccess = tallies.map((t) => t.success).lastIndexOf(true);
  const trailing = tallies.slice(lastSuccess + 1); // failures after the last success
  const successes = tallies.filter((t) => t.success);
  const failures = tallies.filter((t) => !t.success);
  const streak =
    lastSuccess === -1
      ? {
          consecutive_failures: db.raw('consecutive_failures + ?', [trailing.length]),
          failing_since: db.raw('COALESCE(failing_since, ?)', [trailing[0]!.at]),
        }
      : { consecutive_failures: trailing.length, failing_since: trailing[0]?.at ?? null };
  await db('webhook_stats')
    .where({ webhook_id: webhookId, tenant_id: tenantId })
    .update({
      attempts: db.raw('attempts + ?', [tallies.length]),
      attempts_succeeded: db.raw('attempts_succeeded + ?', [successes.length]),
      deliveries_succeeded: db.raw('deliveries_succeeded + ?', [tallies.filter((t) => t.finished === 'succeeded').length]),
      deliveries_failed: db.raw('deliveries_failed + ?', [tallies.filter((t) => t.finished === 'failed').length]),
      ...streak,
      ...(successes.length > 0 ? { last_success_at: Math.max(...successes.map((t) => t.at)) } : {}),
      ...(failures.length > 0 ? { last_failure_at: Math.max(...failures.map((t) => t.at)) } : {}),
    });
  for (const [hourStart, inHour] of byHour(tallies)) {
    const ok = inHour.filter((t) => t.success).length;
    await db('webhook_stats_hourly')
      .insert({ webhook_id: webhookId, tenant_id: tenantId, hour_start: hourStart, attempts: inHour.length, successes: ok })
      .onConflict(['webhook_id', 'hour_start'])
      .merge({
        attempts: db.raw('?? + ?', ['webhook_stats_hourly.attempts', inHour.length]),
        successes: db.raw('?? + ?', ['webhook_stats_hourly.successes', ok]),
      });
  }
}

function byHour(tallies: readonly AttemptTally[]): Map<number, AttemptTally[]> {
  const hours = new Map<number, AttemptTally[]>();
  for (const tally of tallies) {
    const hourStart = Math.floor(tally.at / HOUR_MS) * HOUR_MS;
    hours.set(hourStart, [...(hours.get(hourStart) ?? []), tally]);
  }
  return hours;
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
