/**
 * The span and metrics of one delivery attempt.
 *
 * Each attempt is a `webhook.deliver` span whose parent is the webhook.ingest span that committed
 * the event (its traceparent is stored in events.trace_context), with a link to that span too.
 * So the caller's trace holds the login, the ingest and every attempt of every delivery, retries
 * included, as sibling spans under the ingest span: "from the login to the last retry" in one
 * view, however long the retries take. An event stored without a trace context (tracing was off
 * at ingest) gets a new trace per attempt. Under the attempt span sit the undici HTTP span (whose
 * traceparent the receiver gets) and the knex spans of the write that records the attempt.
 *
 * Attributes are ids, numbers and classes only: never the payload, the URL's path, headers or
 * secrets.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { AttemptResult } from '../delivery/attempt';
import type { ClaimedDelivery } from '../outbox/claim';
import type { Outcome, Recorded } from '../outbox/record';
import { NO_INSTRUMENTS, type Instruments } from './metrics';
import { SERVICE_NAME } from './service';
import { spanContextOf } from './trace-context';

const tracer = trace.getTracer(SERVICE_NAME);

export class DeliveryTelemetry {
  constructor(private readonly instruments: Instruments = NO_INSTRUMENTS) {}

  /**
   * Runs one attempt (sign, POST, record) inside its span. `run` resolves undefined when a
   * shutdown cut the attempt before anything was recorded.
   */
  async attempt<T>(delivery: ClaimedDelivery, run: () => Promise<T | undefined>): Promise<T | undefined> {
    if (delivery.leaseExpired) this.instruments.leaseExpiries.add(1);
    const ingest = spanContextOf(delivery.traceContext);
    const parent = ingest ? trace.setSpanContext(ROOT_CONTEXT, ingest) : ROOT_CONTEXT;
    const options = {
      kind: SpanKind.INTERNAL,
      links: ingest ? [{ context: ingest, attributes: { 'webhook.link': 'ingest' } }] : [],
      attributes: {
        'webhook.delivery.id': delivery.id,
        'webhook.id': delivery.webhookId,
        'webhook.tenant.id': delivery.tenantId,
        'webhook.event.id': delivery.eventId,
        'webhook.event.type': delivery.eventType,
        'webhook.attempt': delivery.attemptCount + 1,
        ...(delivery.leaseExpired ? { 'webhook.lease_expired': true } : {}),
      },
    };
    return tracer.startActiveSpan('webhook.deliver', options, parent, async (span) => {
      try {
        const value = await run();
        if (value === undefined) span.setAttribute('webhook.outcome', 'cut');
        return value;
      } catch (err) {
        this.instruments.attemptsUnrecorded.add(1);
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'recording the attempt failed' });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  /** After the attempt's write: the span's result and the counters. */
  recorded(delivery: ClaimedDelivery, result: AttemptResult, outcome: Outcome, recorded: Recorded): void {
    const success = result.errorClass === null;
    const webhook = { tenant_id: delivery.tenantId, webhook_id: delivery.webhookId };
    this.instruments.attempts.add(1, {
      ...webhook,
      outcome: success ? 'success' : 'failure',
      error_class: result.errorClass ?? 'none',
    });
    this.instruments.attemptDuration.record(result.durationMs / 1000, { outcome: success ? 'success' : 'failure' });
    annotate(trace.getActiveSpan(), result, outcome, recorded);
    if (!recorded.kept) return; // another worker owns the delivery now and counts its end
    const disabled = recorded.disabledReason !== undefined;
    if (disabled) this.instruments.webhooksDisabled.add(1, { reason: result.statusCode === 410 ? 'gone' : 'failing' });
    // A delivery whose webhook this attempt disabled is paused, not retried.
    if (outcome.status === 'pending' && !disabled) this.instruments.retriesScheduled.add(1);
    else if (outcome.status !== 'pending') this.instruments.deliveries.add(1, { ...webhook, outcome: outcome.status });
  }

  /** A delivery ended without an attempt: its webhook was deleted. */
  abandoned(delivery: ClaimedDelivery): void {
    this.instruments.deliveries.add(1, { tenant_id: delivery.tenantId, webhook_id: delivery.webhookId, outcome: 'abandoned' });
  }
}

function annotate(span: Span | undefined, result: AttemptResult, outcome: Outcome, recorded: Recorded): void {
  if (!span) return;
  const next = recorded.disabledReason !== undefined ? 'paused' : 'retry_scheduled';
  span.setAttribute('webhook.outcome', outcome.status === 'pending' ? next : outcome.status);
  span.setAttribute('webhook.duration_ms', result.durationMs);
  if (result.statusCode !== null) span.setAttribute('http.response.status_code', result.statusCode);
  if (outcome.status === 'pending') span.setAttribute('webhook.next_attempt_at', new Date(outcome.nextAttemptAt).toISOString());
  if (!recorded.kept) span.setAttribute('webhook.lease_lost', true);
  if (recorded.disabledReason !== undefined) span.setAttribute('webhook.disabled', true);
  if (result.errorClass !== null) {
    span.setAttribute('error.type', result.errorClass);
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.errorClass });
  }
}
