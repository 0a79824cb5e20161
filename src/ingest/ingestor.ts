/**
 * Validates events and commits the valid ones, with their deliveries, through the group
 * committer. Only then are results returned (and the local delivery workers woken): an OK means
 * committed.
 */
import { AppError, UnavailableError } from '../errors';
import type { Event } from '../grpc/generated/webhooks/v1/event';
import { describeError } from '../telemetry/describe-error';
import { IngestTelemetry } from '../telemetry/ingest-telemetry';
import type { Logger } from '../telemetry/logger';
import type { StoredEvent } from './event-store';
import type { GroupCommitter } from './group-commit';
import { validateEvent, type EventRules, type ValidEvent } from './validate-event';

export type Outcome = { ok: StoredEvent; error?: undefined } | { ok?: undefined; error: AppError };

export interface IngestorDeps {
  readonly committer: GroupCommitter;
  readonly rules: EventRules;
  /** Called after a commit that wrote deliveries due for a claim (not handed off, not paused). */
  readonly onCommitted: () => void;
  readonly clock?: () => number;
  /** The webhook.ingest span and the ingest metrics; parts built alone (tests) need none. */
  readonly telemetry?: IngestTelemetry;
  /** Where a failed commit is reported; parts built alone (tests) may leave it out. */
  readonly logger?: Logger;
}

const UNOBSERVED = new IngestTelemetry();

export class Ingestor {
  /**
   * The failures already logged. Every call in a failed group commit is rejected with the same
   * error, so logging each error once logs each failed commit once.
   */
  private readonly logged = new WeakSet<object>();

  constructor(private readonly deps: IngestorDeps) {}

  /** One outcome per event, in order; `where(i)` names event i in error messages. */
  publish(events: ReadonlyArray<Event | undefined>, where: (i: number) => string): Promise<Outcome[]> {
    const telemetry = this.deps.telemetry ?? UNOBSERVED;
    return telemetry.publish(events, (traceContext) => this.commit(events, where, traceContext));
  }

  /** `traceContext` is stored with each event, for its deliveries' spans. */
  private async commit(
    events: ReadonlyArray<Event | undefined>,
    where: (i: number) => string,
    traceContext: string | null,
  ): Promise<Outcome[]> {
    const now = (this.deps.clock ?? Date.now)();
    const outcomes: Outcome[] = new Array<Outcome>(events.length);
    const valid: Array<{ index: number; event: ValidEvent }> = [];
    events.forEach((event, index) => {
      try {
        valid.push({ index, event: { ...validateEvent(event, this.deps.rules, where(index), now), traceContext } });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        outcomes[index] = { error: err };
      }
    });
    if (valid.length === 0) return outcomes;

    let stored: StoredEvent[];
    try {
      stored = await this.deps.committer.store(valid.map((v) => v.event));
    } catch (err) {
      // The call still answers OK, with an UNAVAILABLE result per event, so the gRPC edge never
      // sees this failure: it is logged here, or no one would learn why events are refused.
      this.report(err);
      const error = new UnavailableError('the event store is unavailable; the event was not stored', { cause: err });
      for (const { index } of valid) outcomes[index] = { error };
      return outcomes;
    }
    valid.forEach(({ index }, i) => (outcomes[index] = { ok: stored[i]! }));
    // Handed-off and paused deliveries need no claim: waking the worker for them would cost a
    // claim transaction that finds nothing, per commit.
    if (stored.some((s) => s.dueForClaim > 0)) this.deps.onCommitted();
    return outcomes;
  }

  /** Logs a failed commit once, however many calls and events it held; never the events. */
  private report(err: unknown): void {
    if (err !== null && typeof err === 'object') {
      if (this.logged.has(err)) return;
      this.logged.add(err);
    }
    this.deps.logger?.error({ error: describeError(err) }, 'storing events failed; their calls were answered UNAVAILABLE');
  }
}
