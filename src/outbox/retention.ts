/**
 * Purges history older than the retention period in small batches, so that no delete holds locks
 * for long: finished (or long-paused) deliveries with their attempts, events that no delivery
 * refers to any more, and hourly stats buckets. Pending deliveries, their attempts and their
 * events are never purged: a delivery sent again after the retention period keeps its earlier
 * attempts, as its attempt_count does.
 */
import type { Knex } from 'knex';
import { deliveryIdAt } from '../ids';

export const PURGE_BATCH = 500;

/** One batch of each kind; returns how many rows went (or were mended). Call until it returns 0. */
export async function purgeOnce(db: Knex, cutoff: number, batch = PURGE_BATCH): Promise<number> {
  let removed = await fillEventTenants(db, batch);
  removed += await purgeDeliveries(db, await finishedDeliveries(db, cutoff, batch), cutoff);
  removed += await purgeOrphanAttempts(db, cutoff, batch);
  removed += await purgeEvents(db, cutoff, batch);
  removed += await purgeStatsBuckets(db, cutoff, batch);
  return removed;
}

/** Finished before the cutoff, or paused since before it: what retention takes. */
function purgeable(q: Knex.QueryBuilder, cutoff: number): Knex.QueryBuilder {
  return q
    .where((f) => f.whereIn('status', ['succeeded', 'failed']).andWhere('completed_at', '<', cutoff))
    .orWhere((p) => p.where('status', 'paused').andWhere('created_at', '<', cutoff));
}

/** Up to `batch` ids of deliveries to purge, oldest first. */
export async function finishedDeliveries(db: Knex, cutoff: number, batch = PURGE_BATCH): Promise<string[]> {
  // Delivery ids are ULIDs, in creation order, and a delivery finishes after it is created: the
  // primary key up to the cutoff's id holds every candidate, oldest first, so no index on
  // completed_at (one more write per delivery) is needed to find them.
  return (await db('deliveries')
    .where('id', '<', deliveryIdAt(cutoff))
    .andWhere((q) => purgeable(q, cutoff))
    .orderBy('id')
    .limit(batch)
    .pluck('id')) as string[];
}

/**
 * Deletes those of `ids` that are still to be purged, then the attempts of the ones that went.
 * A delivery chosen a moment ago may have been sent again since (RetryDelivery makes it
 * pending): the DELETE reads the row as it is now, under its row lock, and leaves such a one
 * with its attempts. A purge stopped between the two deletes leaves attempts without their
 * delivery, which purgeOrphanAttempts takes.
 */
export async function purgeDeliveries(db: Knex, ids: string[], cutoff: number): Promise<number> {
  if (ids.length === 0) return 0;
  const deliveries = await db('deliveries')
    .whereIn('id', ids)
    .andWhere((q) => purgeable(q, cutoff))
    .delete();
  if (deliveries === 0) return 0;
  const attempts = await db('delivery_attempts')
    .whereIn('delivery_id', ids)
    .whereNotExists(db('deliveries as d').select(db.raw('1')).whereRaw('d.id = delivery_attempts.delivery_id'))
    .delete();
  return deliveries + attempts;
}

/** Old attempts whose delivery is gone (a purge stopped between its deletes, a deleted webhook). */
async function purgeOrphanAttempts(db: Knex, cutoff: number, batch: number): Promise<number> {
  const ids = (await db('delivery_attempts as a')
    .where('a.started_at', '<', cutoff)
    .whereNotExists(db('deliveries as d').select(db.raw('1')).whereRaw('d.id = a.delivery_id'))
    .limit(batch)
    .pluck('a.id')) as number[];
  return ids.length === 0 ? 0 : db('delivery_attempts').whereIn('id', ids).delete();
}

async function purgeEvents(db: Knex, cutoff: number, batch: number): Promise<number> {
  const events = (await db('events as e')
    .select('e.tenant_id', 'e.id', 'e.payload_id')
    .where('e.created_at', '<', cutoff)
    // Every delivery names its event's tenant in event_tenant_id (deliveries_by_event).
    .whereNotExists(db('deliveries as d').select(db.raw('1')).whereRaw('d.event_tenant_id = e.tenant_id AND d.event_id = e.id'))
    .limit(batch)) as Array<{ tenant_id: string; id: string; payload_id: string | null }>;
  if (events.length === 0) return 0;
  let removed = 0;
  // Bodies first: a purge stopped between the two deletes leaves events that nothing needs
  // (the next purge takes them), never a body without its event.
  const payloadIds = events.flatMap((e) => (e.payload_id === null ? [] : [e.payload_id]));
  if (payloadIds.length > 0) removed += await db('event_payloads').whereIn('id', payloadIds).delete();
  removed += await db('events')
    .whereIn(
      ['tenant_id', 'id'],
      events.map((e) => [e.tenant_id, e.id]),
    )
    .delete();
  return removed;
}

async function purgeStatsBuckets(db: Knex, cutoff: number, batch: number): Promise<number> {
  const buckets = (await db('webhook_stats_hourly')
    .select('webhook_id', 'hour_start')
    .where('hour_start', '<', cutoff)
    .limit(batch)) as Array<{ webhook_id: string; hour_start: number }>;
  if (buckets.length === 0) return 0;
  return db('webhook_stats_hourly')
    .whereIn(
      ['webhook_id', 'hour_start'],
      buckets.map((b) => [b.webhook_id, b.hour_start]),
    )
    .delete();
}

/**
 * A replica of the version before the lean_delivery_indexes migration, still running during a
 * rolling upgrade, writes its tenants' deliveries without event_tenant_id. The purge of events
 * below finds a delivery's event by that column alone, so it would take such a delivery's event
 * from under it: the column is filled in first (through its own index, so this costs one index
 * probe when there is nothing to mend).
 */
async function fillEventTenants(db: Knex, batch: number): Promise<number> {
  const ids = (await db('deliveries').whereNull('event_tenant_id').limit(batch).pluck('id')) as string[];
  if (ids.length === 0) return 0;
  return db('deliveries').whereIn('id', ids).whereNull('event_tenant_id').update({ event_tenant_id: db.ref('tenant_id') });
}

/** Runs the purge at start and then every intervalMs, batch after batch until nothing is left. */
export class RetentionTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Knex,
    private readonly retentionMs: number,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Purges now; resolves with the rows removed. */
  async runOnce(now = Date.now()): Promise<number> {
    let total = 0;
    for (let n = -1; n !== 0 && !this.stopped; ) {
      n = await purgeOnce(this.db, now - this.retentionMs);
      total += n;
    }
    return total;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then(() => undefined, this.onError)
        .finally(() => {
          if (!this.stopped) this.schedule(this.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
