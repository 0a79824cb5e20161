/**
 * W3C trace context in and out of the sidecar's own records: the traceparent stored with each
 * event (so that its delivery attempts, minutes or hours later, join the caller's trace), the
 * trace ids on log lines, and the traceparent a receiver gets.
 *
 * The W3C propagator is used directly rather than the global one: the stored column and the
 * receiver header are W3C by contract, whatever OTEL_PROPAGATORS says.
 */
import { randomBytesPooled } from '../random-pool';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  trace,
  type Context,
  type SpanContext,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const w3c = new W3CTraceContextPropagator();

/** The traceparent of the active span, or null when there is none (tracing off). */
export function currentTraceparent(ctx: Context = context.active()): string | null {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, defaultTextMapSetter);
  return carrier.traceparent ?? null;
}

/** The span context a stored traceparent names, or undefined when it is absent or malformed. */
export function spanContextOf(traceparent: string | null | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const extracted = trace.getSpanContext(w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter));
  return extracted && isSpanContextValid(extracted) ? extracted : undefined;
}

/**
 * The trace header of an outgoing webhook POST. With the SDK running, the attempt span is valid
 * and the undici instrumentation adds the traceparent of its HTTP client span (a child of the
 * attempt span) to the request, so nothing is added here: a second traceparent would make the
 * header invalid. Without the SDK there is no trace to join, but receivers are promised the
 * header (DESIGN.md), so they get a fresh one, flagged as not sampled.
 */
export function outgoingTraceHeaders(ctx: Context = context.active()): Record<string, string> {
  const active = trace.getSpanContext(ctx);
  if (active && isSpanContextValid(active)) return {};
  return { traceparent: `00-${randomBytesPooled(16).toString('hex')}-${randomBytesPooled(8).toString('hex')}-00` };
}

/** pino mixin (called with pino's own arguments): the ids of the active span, if any. */
export function traceLogFields(): Record<string, string> {
  return traceFieldsOf(context.active());
}

export function traceFieldsOf(ctx: Context): Record<string, string> {
  const span = trace.getSpanContext(ctx);
  if (!span || !isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId };
}
