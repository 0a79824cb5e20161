/**
 * Validates events and commits the valid ones, with their deliveries, through the group
 * committer. Only then are results returned (and the local delivery workers woken): an OK means
 * committed.
 */
import { AppError, UnavailableError } from '../errors';
import type { Event } from '../grpc/generated/webhooks/v1/event';
import { IngestTelemetry } from '../telemetry/ingest-telemetry';
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
}

const UNOBSERVED = new IngestTelemetry();

export class Ingestor {
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
}
