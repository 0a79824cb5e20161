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

export class AttemptRecorder {
  private readonly batcher: Batcher<AttemptRecord, Recorded>;

  constructor(db: Knex, health: HealthPolicy) {
    this.batcher = new Batcher((attempts) => recordAttempts(db, attempts, health), {
      maxWeight: MAX_ATTEMPTS_PER_WRITE,
    });
  }

  /** Settles after the transaction that holds this attempt has committed. */
  record(attempt: AttemptRecord): Promise<Recorded> {
    return this.batcher.submit(attempt);
  }
}
