/**
 * The span and metrics of one publish call. The webhook.ingest span is a child of the gRPC server
 * span (which continues the caller's trace from its traceparent metadata); its traceparent is
 * stored with each event it commits, so that the event's delivery attempts join this trace.
 * A StreamEvents stream gets one webhook.ingest span per event under its long-lived RPC span.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { NO_INSTRUMENTS, type Instruments } from './metrics';
import { SERVICE_NAME } from './service';
import { currentTraceparent } from './trace-context';

const tracer = trace.getTracer(SERVICE_NAME);

/** What telemetry needs of an event and of its outcome (src/ingest/ingestor.ts). */
interface EventLike {
  readonly tenantId: string;
  readonly id: string;
  readonly type: string;
}
type OutcomeLike = { ok: { duplicate: boolean }; error?: undefined } | { ok?: undefined; error: { kind: string } };

export class IngestTelemetry {
  constructor(private readonly instruments: Instruments = NO_INSTRUMENTS) {}

  /**
   * Runs `commit` inside the webhook.ingest span; `commit` gets the traceparent to store with
   * the events (null when tracing is off).
   */
  async publish<O extends OutcomeLike>(
    events: ReadonlyArray<EventLike | undefined>,
    commit: (traceContext: string | null) => Promise<O[]>,
  ): Promise<O[]> {
    const started = performance.now();
    return tracer.startActiveSpan('webhook.ingest', { kind: SpanKind.INTERNAL, attributes: callAttributes(events) }, async (span) => {
      try {
        const outcomes = await commit(currentTraceparent());
        const counts = this.count(events, outcomes);
        span.setAttributes({
          'webhook.events.created': counts.created,
          'webhook.events.duplicate': counts.duplicate,
          'webhook.events.rejected': counts.rejected,
        });
        if (counts.unavailable > 0) span.setStatus({ code: SpanStatusCode.ERROR, message: 'the event store is unavailable' });
        return outcomes;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'publish failed' });
        throw err;
      } finally {
        span.end();
        this.instruments.ingestDuration.record((performance.now() - started) / 1000);
      }
    });
  }

  private count(events: ReadonlyArray<EventLike | undefined>, outcomes: readonly OutcomeLike[]) {
    const counts = { created: 0, duplicate: 0, rejected: 0, unavailable: 0 };
    outcomes.forEach((outcome, i) => {
      if (outcome.error) {
        counts.rejected += 1;
        if (outcome.error.kind === 'unavailable') counts.unavailable += 1;
        this.instruments.eventsRejected.add(1, { reason: outcome.error.kind });
        return;
      }
      const result = outcome.ok.duplicate ? 'duplicate' : 'created';
      counts[result] += 1;
      // The type was validated against the catalog, so the label's values are bounded.
      this.instruments.eventsIngested.add(1, { event_type: events[i]!.type, result });
    });
    return counts;
  }
}

/**
 * A single event's ids (to find its trace), a batch's size; never the event's data. The ids are
 * as sent, before validation, so they are cut to the longest valid length.
 */
function callAttributes(events: ReadonlyArray<EventLike | undefined>): Attributes {
  const only = events.length === 1 ? events[0] : undefined;
  if (!only) return { 'webhook.events.count': events.length };
  return {
    'webhook.events.count': 1,
    'webhook.tenant.id': only.tenantId.slice(0, 64),
    'webhook.event.id': only.id.slice(0, 128),
    'webhook.event.type': only.type.slice(0, 64),
  };
}
