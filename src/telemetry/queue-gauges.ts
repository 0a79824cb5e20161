/**
 * The queue gauges. A scrape reads the numbers of the last periodic query (src/outbox/
 * queue-stats.ts) instead of querying, so scrapes cost the database nothing; while the query
 * fails the gauges are left out rather than showing stale numbers.
 */
import type { Meter } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { queueStats, type QueueStats } from '../outbox/queue-stats';
import { describeError } from './describe-error';
import type { Logger } from './logger';
import { Periodic } from './periodic';

export function queueGauges(meter: Meter, db: Knex, intervalMs: number, logger: Logger): Periodic {
  let latest: { stats: QueueStats; at: number } | undefined;
  const depth = meter.createObservableGauge('webhooks_queue_depth', {
    description: 'Deliveries waiting: due (for a worker), scheduled (a retry later, or in flight), paused',
  });
  const oldestPending = meter.createObservableGauge('webhooks_queue_oldest_pending_age_seconds', {
    description: 'Age of the oldest pending delivery (0 when none is pending)',
    unit: 's',
  });
  const oldestDue = meter.createObservableGauge('webhooks_queue_oldest_due_age_seconds', {
    description: 'How long the longest-waiting due delivery has waited for a worker (0 when none is due)',
    unit: 's',
  });
  meter.addBatchObservableCallback(
    (result) => {
      if (!latest) return;
      const { stats, at } = latest;
      result.observe(depth, stats.due, { state: 'due' });
      result.observe(depth, stats.scheduled, { state: 'scheduled' });
      result.observe(depth, stats.paused, { state: 'paused' });
      result.observe(oldestPending, ageSeconds(at, stats.oldestPendingCreatedAt));
      result.observe(oldestDue, ageSeconds(at, stats.oldestDueAt));
    },
    [depth, oldestPending, oldestDue],
  );
  return new Periodic(intervalMs, async () => {
    const now = Date.now();
    try {
      latest = { stats: await queueStats(db, now), at: now };
    } catch (err) {
      latest = undefined;
      // The database probe reports outages; this is only the gauges' side of one.
      logger.debug({ error: describeError(err) }, 'queue gauges not refreshed');
    }
  });
}

function ageSeconds(now: number, since: number | null): number {
  return since === null ? 0 : Math.max(0, now - since) / 1000;
}
