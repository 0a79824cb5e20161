/**
 * Gives leases back: claimed deliveries that will not be sent here (a stopping worker's unsent
 * work, a queued delivery whose lease grew too short) are made due again at once, for any worker,
 * instead of waiting for their leases to run out. A failed write is only logged: the lease then
 * runs out on its own.
 */
import type { Knex } from 'knex';
import type { Clock } from '../db/db-clock';
import type { ClaimedDelivery } from '../outbox/claim';
import { releaseClaims } from '../outbox/record';
import { describeError } from '../telemetry/describe-error';
import type { Logger } from '../telemetry/logger';

export class LeaseReturns {
  /** Writes under way. */
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    /** The database's clock: given-back rows fall due by it, for every replica. */
    private readonly clock: Clock,
  ) {}

  /**
   * Settles once these claims are given back (or the write failed and was logged); `pausedOnly`
   * for those of a disabled webhook (src/outbox/record.ts).
   */
  giveBack(claims: readonly ClaimedDelivery[], pausedOnly = false): Promise<void> {
    if (claims.length === 0) return Promise.resolve();
    const done = releaseClaims(this.db, claims, this.clock.now(), pausedOnly)
      .catch((err: unknown) => this.logger.warn({ error: describeError(err) }, 'releasing leases failed; they expire on their own'))
      .finally(() => this.writing.delete(done));
    this.writing.add(done);
    return done;
  }

  /** Returns once every give-back under way has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.writing]);
  }
}
