/**
 * W3C trace context helpers, without the SDK (as in every in-process test): what is stored with
 * an event, what a receiver gets, and what log lines carry.
 */
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { expect } from 'chai';
import { currentTraceparent, outgoingTraceHeaders, spanContextOf, traceFieldsOf, traceLogFields } from '../../src/telemetry/trace-context';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

describe('telemetry/trace-context', () => {
  const inSpan = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });

  it('writes the active span as a traceparent, and nothing without one', () => {
    expect(currentTraceparent(inSpan)).to.equal(`00-${TRACE}-${SPAN}-01`);
    expect(currentTraceparent(ROOT_CONTEXT)).to.equal(null);
  });

  it('reads a stored traceparent back, and ignores a missing or malformed one', () => {
    expect(spanContextOf(`00-${TRACE}-${SPAN}-01`)).to.include({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(spanContextOf(null)).to.equal(undefined);
    expect(spanContextOf('')).to.equal(undefined);
    expect(spanContextOf(`00-${'0'.repeat(32)}-${SPAN}-01`)).to.equal(undefined);
    expect(spanContextOf('not a traceparent')).to.equal(undefined);
  });

  it('gives a receiver a fresh unsampled traceparent when there is no trace to join', () => {
    const first = outgoingTraceHeaders(ROOT_CONTEXT).traceparent;
    expect(first).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(outgoingTraceHeaders(ROOT_CONTEXT).traceparent).to.not.equal(first);
  });

  it('leaves the header to the undici instrumentation inside a valid span', () => {
    expect(outgoingTraceHeaders(inSpan)).to.deep.equal({});
  });

  it('puts the span ids on log lines written in a span, and nothing outside one', () => {
    expect(traceFieldsOf(inSpan)).to.deep.equal({ trace_id: TRACE, span_id: SPAN });
    expect(traceFieldsOf(ROOT_CONTEXT)).to.deep.equal({});
    expect(traceLogFields(), 'no span is active here').to.deep.equal({});
  });
});
