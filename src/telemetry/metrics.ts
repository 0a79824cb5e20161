/**
 * The sidecar's metrics, through the OpenTelemetry metrics API, read by Prometheus from
 * GET /metrics (src/telemetry/ops-server.ts). Each app has its own MeterProvider rather than the
 * global one, so that several apps in one test process keep their own counts.
 *
 * Instrument names are the Prometheus names (the exporter adds `_total` to counters and nothing
 * else). Labels stay bounded: event types come from the catalog, outcomes and error classes from
 * short fixed lists; only the per-webhook counters carry tenant_id and webhook_id (at most 100
 * webhooks per tenant, a few series each), because success rate per webhook is what an operator
 * alerts on. Across tenants those are unbounded, so each per-webhook counter holds at most
 * WEBHOOKS_METRICS_WEBHOOK_SERIES series, the overflow one included (BoundedCounter: the SDK's
 * cardinality limit does not bound a synchronous counter's memory, see bounded-counter.ts). A
 * series, once counted, stays until the process ends, a deleted webhook's included: the SDK keeps
 * reporting a cumulative series its callback no longer observes.
 */
import type http from 'node:http';
import { createNoopMeter, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider } from '@opentelemetry/sdk-metrics';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { BoundedCounter } from './bounded-counter';
import { SERVICE_NAME } from './service';


/** Seconds; an ingest is one commit (a few ms), an attempt is bounded by the request timeout. */
const INGEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120];

export interface Instruments {
  /** {event_type, result: created|duplicate} */
  readonly eventsIngested: Counter;
  /** {reason: the error kind, e.g. input, unavailable} */
  readonly eventsRejected: Counter;
  /** One publish call (PublishEvent, PublishEvents, one StreamEvents event), validation to commit. */
  readonly ingestDuration: Histogram;
  /** {tenant_id, webhook_id, outcome: success|failure, error_class} */
  readonly attempts: BoundedCounter;
  /** {outcome: success|failure} */
  readonly attemptDuration: Histogram;
  /** Attempts made whose result could not be written (database down): sent again after the lease. */
  readonly attemptsUnrecorded: Counter;
  /** Deliveries that reached a final state: {tenant_id, webhook_id, outcome: succeeded|failed|abandoned} */
  readonly deliveries: BoundedCounter;
  readonly retriesScheduled: Counter;
  /** {reason: gone|failing} */
  readonly webhooksDisabled: Counter;
  /** Claims that took a delivery whose previous lease had run out (its worker died or hung). */
  readonly leaseExpiries: Counter;
}

/** `webhookSeries`: series each per-webhook counter holds at most (see MetricsOptions). */
export function createInstruments(meter: Meter, webhookSeries: number): Instruments {
  return {
    eventsIngested: meter.createCounter('webhooks_events_ingested', {
      description: 'Events accepted by ingest, by type; duplicates are repeated ids that created nothing',
    }),
    eventsRejected: meter.createCounter('webhooks_events_rejected', {
      description: 'Events refused by ingest, by reason (input: invalid, unavailable: the store failed)',
    }),
    ingestDuration: meter.createHistogram('webhooks_ingest_duration_seconds', {
      description: 'Time of one publish call from validation to its commit',
      unit: 's',
      advice: { explicitBucketBoundaries: INGEST_BUCKETS },
    }),
    attempts: BoundedCounter.observed(meter, 'webhooks_attempts', 'Delivery attempts (HTTP POSTs), by webhook and outcome', webhookSeries),
    attemptDuration: meter.createHistogram('webhooks_attempt_duration_seconds', {
      description: 'Time of one delivery attempt, connect to the end of the response body',
      unit: 's',
      advice: { explicitBucketBoundaries: ATTEMPT_BUCKETS },
    }),
    attemptsUnrecorded: meter.createCounter('webhooks_attempts_unrecorded', {
      description: 'Attempts whose result could not be written; the delivery is sent again when its lease ends',
    }),
    deliveries: BoundedCounter.observed(meter, 'webhooks_deliveries', 'Deliveries that reached a final state, by webhook and outcome', webhookSeries),
    retriesScheduled: meter.createCounter('webhooks_retries_scheduled', {
      description: 'Failed attempts after which a retry was scheduled',
    }),
    webhooksDisabled: meter.createCounter('webhooks_disabled', {
      description: 'Webhooks disabled by the sidecar (gone: 410; failing: a long failure streak)',
    }),
    leaseExpiries: meter.createCounter('webhooks_lease_expiries', {
      description: 'Deliveries claimed after the lease of another claim ran out',
    }),
  };
}

/**
 * Instruments that record nothing, for parts built alone (tests, benchmarks). Nothing reads the
 * per-webhook counters: one series each keeps what they hold to a number.
 */
export const NO_INSTRUMENTS: Instruments = createInstruments(createNoopMeter(), 1);

/**
 * How often the event loop's delay is sampled, in ms: the runtime metrics' resolution. A login
 * waits on this loop twice (the call, then its commit), so a stall of a few ms is worth seeing.
 */
const EVENT_LOOP_RESOLUTION_MS = 10;
/**
 * Seconds. The runtime instrumentation's own buckets start at 5 ms, where a scavenge (the young
 * generation's collection, most of them) takes 0.5-3 ms: these tell those apart.
 */
const GC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The counters labelled by tenant_id and webhook_id (their Prometheus names, less `_total`). */
const PER_WEBHOOK_COUNTERS = ['webhooks_attempts', 'webhooks_deliveries'] as const;

export interface MetricsOptions {
  /**
   * Series each per-webhook counter holds at most (WEBHOOKS_METRICS_WEBHOOK_SERIES), the
   * overflow one included: once the others are taken, every new label set adds to one series
   * labelled otel_metric_overflow="true", for the life of the process. About 900 bytes of heap
   * each (ours and the SDK's copies).
   */
  readonly webhookSeries: number;
}

/**
 * A MeterProvider whose only reader is the Prometheus exporter, served by the ops server. Besides
 * the sidecar's own instruments it carries the Node.js runtime's (OpenTelemetry's runtime-node
 * instrumentation, semantic conventions `nodejs.*` and `v8js.*`): the event loop's delay and
 * utilization, garbage collection pauses and heap sizes, which tell an operator whether a slow
 * ingest call waited on the database or on this process.
 */
export class MetricsRegistry {
  readonly meter: Meter;
  readonly instruments: Instruments;
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly runtime: RuntimeNodeInstrumentation;

  constructor(options: MetricsOptions) {
    // The ops server serves the exporter's handler; the exporter's own server never starts.
    this.exporter = new PrometheusExporter({ preventServerStart: true });
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': SERVICE_NAME }),
      readers: [this.exporter],
      views: [
        {
          instrumentName: 'v8js.gc.duration',
          aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: GC_BUCKETS } },
        },
        // The counters bound themselves; the SDK's limit (2,000 by default, checked for an
        // asynchronous instrument against every series it has seen) must not cut them first.
        ...PER_WEBHOOK_COUNTERS.map((instrumentName) => ({ instrumentName, aggregationCardinalityLimit: options.webhookSeries + 1 })),
      ],
    });
    this.meter = this.provider.getMeter(SERVICE_NAME);
    this.instruments = createInstruments(this.meter, options.webhookSeries);
    // Enabled only once it records into this provider, not into the global (no-op) one.
    this.runtime = new RuntimeNodeInstrumentation({ enabled: false, monitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
    this.runtime.setMeterProvider(this.provider);
    this.runtime.enable();
  }

  /** Answers a scrape in the Prometheus text format. */
  serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.exporter.getMetricsRequestHandler(req, res);
  }

  async shutdown(): Promise<void> {
    // Its event loop histogram and GC observer live in the process, not in the provider.
    this.runtime.disable();
    await this.provider.shutdown();
  }
}
