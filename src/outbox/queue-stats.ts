/**
 * How much is waiting in the outbox, for the queue gauges. One aggregate over the pending and
 * paused rows, which the deliveries_due index (status, next_attempt_at) finds without touching
 * finished history; it runs every few seconds per replica, never per scrape.
 */
import type { Knex } from 'knex';

export interface QueueStats {
  /** Pending deliveries due now: waiting for a worker. */
  readonly due: number;
  /** Pending deliveries due later: a retry's back-off, or an attempt in flight under its lease. */
  readonly scheduled: number;
  /** Deliveries held while their webhook is disabled. */
  readonly paused: number;
  /** ms since the epoch: when the oldest pending delivery was created; null when none is. */
  readonly oldestPendingCreatedAt: number | null;
  /** ms since the epoch: when the longest-waiting due delivery fell due; null when none is. */
  readonly oldestDueAt: number | null;
}

interface Row {
  status: string;
  n: number | string;
  due: number | string | null;
  oldest_created: number | string | null;
  oldest_due: number | string | null;
}

export async function queueStats(db: Knex, now: number): Promise<QueueStats> {
  const rows = (await db('deliveries')
    .select('status')
    .count({ n: '*' })
    .select(
      db.raw('SUM(CASE WHEN next_attempt_at <= ? THEN 1 ELSE 0 END) AS due', [now]),
      db.raw('MIN(created_at) AS oldest_created'),
      db.raw('MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END) AS oldest_due', [now]),
    )
    .whereIn('status', ['pending', 'paused'])
    .groupBy('status')) as Row[];
  const pending = rows.find((r) => r.status === 'pending');
  const paused = rows.find((r) => r.status === 'paused');
  const due = Number(pending?.due ?? 0);
  return {
    due,
    scheduled: Number(pending?.n ?? 0) - due,
    paused: Number(paused?.n ?? 0),
    oldestPendingCreatedAt: numberOrNull(pending?.oldest_created),
    oldestDueAt: numberOrNull(pending?.oldest_due),
  };
}

function numberOrNull(value: number | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}
