/**
 * Group commit of ingest: concurrent publish calls share one transaction (src/db/batcher.ts), so
 * the log flush of a commit is paid once per batch; each call is answered after that commit.
 */
import type { Knex } from 'knex';
import { Batcher } from '../db/batcher';
import { storeEvents, type Handoff, type StoredEvent } from './event-store';
import type { ValidEvent } from './validate-event';

export class GroupCommitter {
  private readonly batcher: Batcher<readonly ValidEvent[], StoredEvent[]>;

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
  ) {
    this.batcher = new Batcher(
      async (calls) => {
        const now = clock();
        const stored = await storeEvents(db, calls.flat(), now, handoff(now));
        let offset = 0;
        return calls.map((events) => stored.slice(offset, (offset += events.length)));
      },
      { maxWeight: maxBatchEvents, weightOf: (events) => events.length, maxInFlight },
    );
  }

  /** One result per event, in order, after the commit that holds them. */
  store(events: readonly ValidEvent[]): Promise<StoredEvent[]> {
    return this.batcher.submit(events);
  }
}
