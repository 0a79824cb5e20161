/**
 * How much is waiting in the outbox, for the queue gauges. One aggregate over the pending and
 * paused rows, which the deliveries_due index (status, next_attempt_at, webhook_id) finds without
 * touching finished history; it runs every few seconds per replica, never per scrape.
 *
 * It reads that index alone: every column it names is in it (the id, the primary key, is in
 * every secondary index entry). The oldest pending delivery is found by its id, a ULID that
 * carries its creation time. MIN(created_at) made MySQL read each waiting row from the table:
 * 3.5 s a run over 1.2 million paused deliveries, and the table's pages pushed out of the buffer
 * pool, every 15 s on every replica; reading the index alone took 0.57 s (BENCHMARKS.md,
 * twelfth session).
 */
import type { Knex } from 'knex';
import { deliveryIdTime } from '../ids';

export interface QueueStats {
  /** Pending deliveries due now: waiting for a worker. */
  readonly due: number;
  /** Pending deliveries due later: a retry's back-off, or an attempt in flight under its lease. */
  readonly scheduled: number;
  /** Deliveries held while their webhook is disabled. */
  readonly paused: number;
  /** ms since the epoch: when the oldest pending delivery was created (from its id); null when none is. */
  readonly oldestPendingCreatedAt: number | null;
  /** ms since the epoch: when the longest-waiting due delivery fell due; null when none is. */
  readonly oldestDueAt: number | null;
}

interface Row {
  status: string;
  n: number | string;
  due: number | string | null;
  oldest_id: string | null;
  oldest_due: number | string | null;
}

/** The one query, by status; exported so a test can ask MySQL how it runs it. */
export function queueStatsQuery(db: Knex, now: number): Knex.QueryBuilder {
  return db('deliveries')
    .select('status')
    .count({ n: '*' })
    .select(
      db.raw('SUM(CASE WHEN next_attempt_at <= ? THEN 1 ELSE 0 END) AS due', [now]),
      db.raw('MIN(id) AS oldest_id'),
      db.raw('MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END) AS oldest_due', [now]),
    )
    .whereIn('status', ['pending', 'paused'])
    .groupBy('status');
}

export async function queueStats(db: Knex, now: number): Promise<QueueStats> {
  const rows = (await queueStatsQuery(db, now)) as Row[];
  const pending = rows.find((r) => r.status === 'pending');
  const paused = rows.find((r) => r.status === 'paused');
  const due = Number(pending?.due ?? 0);
  return {
    due,
    scheduled: Number(pending?.n ?? 0) - due,
    paused: Number(paused?.n ?? 0),
    oldestPendingCreatedAt: pending?.oldest_id ? deliveryIdTime(pending.oldest_id) : null,
    oldestDueAt: numberOrNull(pending?.oldest_due),
  };
}

function numberOrNull(value: number | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}
