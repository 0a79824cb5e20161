/**
 * A webhook's counters, updated in the attempt's own transaction so that GetWebhookStats reads a
 * row instead of scanning history, and the failure streak that endpoint health is judged on.
 */
import type { Knex } from 'knex';
import { bound, caseWhen, inList, updateSql, type Fragment } from '../db/case-when';
import type { Tx } from '../db/transaction';

export const HOUR_MS = 3600 * 1000;

export interface AttemptTally {
  readonly success: boolean;
  /** The delivery ended with this attempt: succeeded, or failed for good. */
  readonly finished: 'succeeded' | 'failed' | null;
  /**
   * False for an attempt whose lease was lost: it counts as an attempt (a receiver saw it) but not
   * in the failure streak or the last success and failure times, which judge the endpoint.
   */
  readonly judged: boolean;
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
export async function countAttempts(tx: Tx, batch: readonly WebhookTallies[]): Promise<void> {
  const webhooks = batch.filter((w) => w.tallies.length > 0);
  if (webhooks.length === 0) return;
  const perWebhook = (of: (w: WebhookTallies) => Fragment): Fragment => caseWhen('webhook_id', webhooks, (w) => w.webhookId, of);
  const add = (column: string, count: (t: readonly AttemptTally[]) => number): Fragment =>
    perWebhook((w) => ({ sql: `${column} + ?`, bindings: [count(w.tallies)] }));
  const latest = (column: string, success: boolean): Fragment =>
    perWebhook((w) => {
      const at = w.tallies.filter((t) => t.judged && t.success === success).map((t) => t.at);
      return at.length === 0 ? { sql: column, bindings: [] } : bound(Math.max(...at));
    });
  const streaks = new Map(webhooks.map((w) => [w.webhookId, streakAfter(w.tallies.filter((t) => t.judged))]));
  const counters = updateSql(
    'webhook_stats',
    [
      ['attempts', add('attempts', (t) => t.length)],
      ['attempts_succeeded', add('attempts_succeeded', (t) => t.filter((x) => x.success).length)],
      ['deliveries_succeeded', add('deliveries_succeeded', (t) => t.filter((x) => x.finished === 'succeeded').length)],
      ['deliveries_failed', add('deliveries_failed', (t) => t.filter((x) => x.finished === 'failed').length)],
      ['consecutive_failures', perWebhook((w) => {
        const streak = streaks.get(w.webhookId)!;
        return streak.continues ? { sql: 'consecutive_failures + ?', bindings: [streak.failures] } : bound(streak.failures);
      })],
      ['failing_since', perWebhook((w) => {
        const streak = streaks.get(w.webhookId)!;
        return streak.continues ? { sql: 'COALESCE(failing_since, ?)', bindings: [streak.since] } : bound(streak.since);
      })],
      ['last_success_at', latest('last_success_at', true)],
      ['last_failure_at', latest('last_failure_at', false)],
    ],
    inList(['webhook_id', 'tenant_id'], webhooks.map((w) => [w.webhookId, w.tenantId])),
  );
  await tx.run('update', 'webhook_stats', counters.sql, counters.bindings);
  const hourly = webhooks.flatMap((w) =>
    [...byHour(w.tallies)].map(([hourStart, inHour]) => [w.webhookId, w.tenantId, hourStart, inHour.length, inHour.filter((t) => t.success).length]),
  );
  // The inserted row's value: VALUES(col) on MySQL, excluded.col on SQLite.
  const upsert = tx.mysql
    ? 'ON DUPLICATE KEY UPDATE attempts = webhook_stats_hourly.attempts + VALUES(attempts), successes = webhook_stats_hourly.successes + VALUES(successes)'
    : 'ON CONFLICT (webhook_id, hour_start) DO UPDATE SET attempts = webhook_stats_hourly.attempts + excluded.attempts, successes = webhook_stats_hourly.successes + excluded.successes';
  await tx.run(
    'upsert',
    'webhook_stats_hourly',
    `INSERT INTO webhook_stats_hourly (webhook_id, tenant_id, hour_start, attempts, successes) VALUES ${hourly.map(() => '(?, ?, ?, ?, ?)').join(', ')} ${upsert}`,
    hourly.flat(),
  );
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

export async function streakOf(tx: Tx, tenantId: string, webhookId: string): Promise<Streak> {
  const [row] = await tx.select<{ consecutive_failures: number; failing_since: number | null }>(
    'webhook_stats',
    'SELECT consecutive_failures, failing_since FROM webhook_stats WHERE webhook_id = ? AND tenant_id = ?',
    [webhookId, tenantId],
  );
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
