/**
 * Group commit of ingest: concurrent publish calls share one transaction (src/db/batcher.ts), so
 * the log flush of a commit is paid once per batch; each call is answered after that commit.
 *
 * An event whose (tenant_id, id) is already in a write under way waits for that write to end
 * before it joins a batch. Without that, two transactions in flight at once could race on the
 * same id and the later submission could be stored as the original: a stream that sends an id
 * twice would see its first copy acknowledged as the duplicate.
 */
import type { Knex } from 'knex';
import { Batcher } from '../db/batcher';
import { keyOf, storeEvents, type Handoff, type StoredEvent } from './event-store';
import type { ValidEvent } from './validate-event';

/**
 * Event bodies per transaction at most (one larger call still goes in one). The event count alone
 * let a commit hold a thousand 1 MiB events (WEBHOOKS_MAX_EVENT_BYTES at its maximum, one per
 * call): a gigabyte held in memory and in one transaction's undo and redo. 16 MiB is two of the
 * largest calls (8 MiB messages); events of the default 64 KiB still fill 256 per commit.
 */
const MAX_BATCH_PAYLOAD_BYTES = 16 * 1024 * 1024;

export class GroupCommitter {
  private readonly batcher: Batcher<readonly ValidEvent[], StoredEvent[]>;
  /** The last submission, not yet settled, that holds each (tenant_id, id). */
  private readonly pending = new Map<string, Promise<unknown>>();

  /**
   * At most maxBatchEvents events per transaction (one larger call still goes in one), and up to
   * maxInFlight transactions at once (1 on SQLite, whose one connection writes one at a time).
   */
  constructor(
    db: Knex,
    maxBatchEvents: number,
    maxInFlight: number,
    clock: () => number = Date.now,
    /** Places in the local delivery worker for this batch's deliveries, if it has any. */
    handoff: (now: number) => Handoff | undefined = () => undefined,
    /** Bodies in event_payloads rather than in the events rows (Config.eventBodies). */
    separateBodies = false,
  ) {
    this.batcher = new Batcher(
      async (calls) => {
        const now = clock();
        const stored = await storeEvents(db, calls.flat(), now, handoff(now), separateBodies);
        let offset = 0;
        return calls.map((events) => stored.slice(offset, (offset += events.length)));
      },
      {
        maxWeight: maxBatchEvents,
        weightOf: (events) => events.length,
        maxBytes: MAX_BATCH_PAYLOAD_BYTES,
        // Characters, not bytes: close enough for a bound, without encoding every body again.
        sizeOf: (events) => events.reduce((sum, e) => sum + e.payload.length, 0),
        maxInFlight,
      },
    );
  }

  /**
   * One result per event, in order, after the commit that holds them. Of submissions that share
   * an id, the one submitted first is stored first.
   */
  async store(events: readonly ValidEvent[]): Promise<StoredEvent[]> {
    const keys = new Set(events.map(keyOf));
    const earlier = new Set<Promise<unknown>>();
    for (const key of keys) {
      const write = this.pending.get(key);
      if (write !== undefined) earlier.add(write);
    }
    const write =
      earlier.size === 0
        ? this.batcher.submit(events)
        : Promise.allSettled(earlier).then(() => this.batcher.submit(events));
    for (const key of keys) this.pending.set(key, write);
    try {
      return await write;
    } finally {
      for (const key of keys) if (this.pending.get(key) === write) this.pending.delete(key);
    }
  }
}
