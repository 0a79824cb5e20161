/**
 * Records attempts in batches (src/db/batcher.ts): the attempts that end while one batch is being
 * written share the next transaction, so a busy worker pays one commit, and one lock of each
 * webhook's counters row, per batch instead of per attempt.
 */
import type { Knex } from 'knex';
import { Batcher } from '../db/batcher';
import type { HealthPolicy } from '../delivery/endpoint-health';
import { recordAttempts, type AttemptRecord, type Recorded } from './record';

/** Attempts per transaction at most. */
export const MAX_ATTEMPTS_PER_WRITE = 500;
/**
 * How long an attempt that ends after a quiet moment waits for others before its write starts.
 * An event's deliveries end within a few ms of each other; at 100 events/s, 5 ms put them in one
 * transaction instead of two or three: 11.4-11.9 statements per event against 14.7-16.7, and the
 * sidecar at 43-52% of a core against 55-59% (BENCHMARKS.md, eighth session). A slot does not
 * wait for its attempt's write, so no delivery is sent later for it.
 */
const GATHER_MS = 5;
/**
 * The least time between the starts of two batches' writes. A batch's write now takes two round
 * trips (src/db/transaction.ts) where it took seven, and under load the batches shrank with it:
 * the drain committed 0.04-0.05 times per delivery against 0.03, and its sidecar CPU per delivery
 * rose. At 10 ms it still committed 0.04 times; at 20 ms, 0.03 as before (BENCHMARKS.md,
 * seventeenth session). Attempts being recorded hold no slot, so waiting here delays no POST.
 */
const MIN_SPACING_MS = 20;

export class AttemptRecorder {
  private readonly batcher: Batcher<AttemptRecord, Recorded>;

  constructor(db: Knex, health: HealthPolicy) {
    this.batcher = new Batcher((attempts) => recordAttempts(db, attempts, health), {
      maxWeight: MAX_ATTEMPTS_PER_WRITE,
      gatherMs: GATHER_MS,
      minSpacingMs: MIN_SPACING_MS,
    });
  }

  /** Settles after the transaction that holds this attempt has committed. */
  record(attempt: AttemptRecord): Promise<Recorded> {
    return this.batcher.submit(attempt);
  }
}
