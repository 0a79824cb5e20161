/** GetWebhookStats: the counters row, the pending and paused counts, and hourly buckets for the window. */
import type { Knex } from 'knex';
import { InputError, NotFoundError } from '../errors';
import { HOUR_MS } from '../outbox/stats';

export const DEFAULT_WINDOW_MS = 24 * HOUR_MS;
export const MAX_WINDOW_MS = 90 * 24 * HOUR_MS;

export interface WebhookStatsRecord {
  readonly deliveriesSucceeded: number;
  readonly deliveriesFailed: number;
  readonly deliveriesPending: number;
  readonly deliveriesPaused: number;
  readonly attempts: number;
  /** Successful attempts / attempts in the window (hour granularity); 0 without attempts. */
  readonly successRate: number;
  readonly consecutiveFailures: number;
  readonly failingSince: number | null;
  readonly lastSuccessAt: number | null;
  readonly lastFailureAt: number | null;
}

export async function readStats(
  db: Knex,
  tenantId: string,
  webhookId: string,
  windowMs: number,
  now: number,
): Promise<WebhookStatsRecord> {
  if (windowMs < 0 || windowMs > MAX_WINDOW_MS) throw new InputError('window', 'must be between 0 and 90 days');
  const window = windowMs === 0 ? DEFAULT_WINDOW_MS : windowMs;
  const row = (await db('webhook_stats').where({ tenant_id: tenantId, webhook_id: webhookId }).first()) as
    | Record<string, number | string | null>
    | undefined;
  if (!row) throw new NotFoundError(`webhook "${webhookId.slice(0, 64)}" not found`);
  const byStatus = (await db('deliveries')
    .select('status')
    .count({ n: '*' })
    .where({ tenant_id: tenantId, webhook_id: webhookId })
    .whereIn('status', ['pending', 'paused'])
    .groupBy('status')) as Array<{ status: string; n: number | string }>;
  const windowStart = Math.floor((now - window) / HOUR_MS) * HOUR_MS;
  const sums = (await db('webhook_stats_hourly')
    .sum({ attempts: 'attempts', successes: 'successes' })
    .where({ tenant_id: tenantId, webhook_id: webhookId })
    .andWhere('hour_start', '>=', windowStart)
    .first()) as { attempts: number | string | null; successes: number | string | null };
  const windowAttempts = Number(sums.attempts ?? 0);
  return {
    deliveriesSucceeded: Number(row.deliveries_succeeded),
    deliveriesFailed: Number(row.deliveries_failed),
    deliveriesPending: Number(byStatus.find((r) => r.status === 'pending')?.n ?? 0),
    deliveriesPaused: Number(byStatus.find((r) => r.status === 'paused')?.n ?? 0),
    attempts: Number(row.attempts),
    successRate: windowAttempts === 0 ? 0 : Number(sums.successes ?? 0) / windowAttempts,
    consecutiveFailures: Number(row.consecutive_failures),
    failingSince: nullable(row.failing_since),
    lastSuccessAt: nullable(row.last_success_at),
    lastFailureAt: nullable(row.last_failure_at),
  };
}

function nullable(value: number | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}
