/**
 * A webhook's counters, updated in the attempt's own transaction so that GetWebhookStats reads a
 * row instead of scanning history, and the failure streak that endpoint health is judged on.
 */
import type { Knex } from 'knex';
import { caseWhen, type Fragment } from '../db/case-when';
import { isMysql } from '../db/connect';

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

/** One webhook's attempts of a batch, in the order they happened. */
export interface WebhookTallies {
  readonly tenantId: string;
  readonly webhookId: string;
  readonly tallies: readonly AttemptTally[];
}

/**
 * Counts a batch's attempts, every webhook's at once, in one UPDATE of the counters rows and one
 * multi-row upsert of the hourly rows: a batch of 200 attempts to one endpoint takes that row's
 * lock once, not 200 times (the lock every replica's attempts to that webhook queue on). The
 * UPDATE walks the primary key, so every batch of every replica locks counters rows in the same
 * (webhook id) order and two batches never wait on each other in a cycle.
 */
export async function countAttempts(db: Knex, batch: readonly WebhookTallies[]): Promise<void> {
  const webhooks = batch.filter((w) => w.tallies.length > 0);
  if (webhooks.length === 0) return;
  const perWebhook = (of: (w: WebhookTallies) => Fragment): Knex.Raw => caseWhen(db, 'webhook_id', webhooks, (w) => w.webhookId, of);
  const add = (column: string, count: (t: readonly AttemptTally[]) => number): Knex.Raw =>
    perWebhook((w) => ({ sql: `${column} + ?`, bindings: [count(w.tallies)] }));
  const latest = (column: string, success: boolean): Knex.Raw =>
    perWebhook((w) => {
      const at = w.tallies.filter((t) => t.success === success).map((t) => t.at);
      return at.length === 0 ? { sql: column, bindings: [] } : { sql: '?', bindings: [Math.max(...at)] };
    });
  const streaks = new Map(webhooks.map((w) => [w.webhookId, streakAfter(w.tallies)]));
  await db('webhook_stats')
    .whereIn(
      ['webhook_id', 'tenant_id'],
      webhooks.map((w) => [w.webhookId, w.tenantId]),
    )
    .update({
      attempts: add('attempts', (t) => t.length),
      attempts_succeeded: add('attempts_succeeded', (t) => t.filter((x) => x.success).length),
      deliveries_succeeded: add('deliveries_succeeded', (t) => t.filter((x) => x.finished === 'succeeded').length),
      deliveries_failed: add('deliveries_failed', (t) => t.filter((x) => x.finished === 'failed').length),
      consecutive_failures: perWebhook((w) => {
        const streak = streaks.get(w.webhookId)!;
        return streak.continues
          ? { sql: 'consecutive_failures + ?', bindings: [streak.failures] }
          : { sql: '?', bindings: [streak.failures] };
      }),
      failing_since: perWebhook((w) => {
        const streak = streaks.get(w.webhookId)!;
        return streak.continues
          ? { sql: 'COALESCE(failing_since, ?)', bindings: [streak.since] }
          : { sql: '?', bindings: [streak.since] };
      }),
      last_success_at: latest('last_success_at', true),
      last_failure_at: latest('last_failure_at', false),
    });
  const hourly = webhooks.flatMap((w) =>
    [...byHour(w.tallies)].map(([hourStart, inHour]) => ({
      webhook_id: w.webhookId,
      tenant_id: w.tenantId,
      hour_start: hourStart,
      attempts: inHour.length,
      successes: inHour.filter((t) => t.success).length,
    })),
  );
  // The inserted row's value: VALUES(col) on MySQL, excluded.col on SQLite.
  const inserted = (column: string): string => (isMysql(db) ? `VALUES(${column})` : `excluded.${column}`);
  await db('webhook_stats_hourly')
    .insert(hourly)
    .onConflict(['webhook_id', 'hour_start'])
    .merge({
      attempts: db.raw(`webhook_stats_hourly.attempts + ${inserted('attempts')}`),
      successes: db.raw(`webhook_stats_hourly.successes + ${inserted('successes')}`),
    });
}

/**
 * The failure streak after these attempts: the failures after the last success, added to the
 * streak so far when there was no success in the batch (`continues`), or starting a new one.
 */
function streakAfter(tallies: readonly AttemptTally[]): { continues: boolean; failures: number; since: number | null } {
  const lastSuccess = tallies.map((t) => t.success).lastIndexOf(true);
  const trailing = tallies.slice(lastSuccess + 1);
  return { continues: lastSuccess === -1, failures: trailing.length, since: trailing[0]?.at ?? null };
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
