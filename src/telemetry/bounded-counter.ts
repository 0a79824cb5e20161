/**
 * A counter that holds at most a fixed number of series, exported through an ObservableCounter.
 *
 * Why not a synchronous Counter with a View's aggregationCardinalityLimit: in
 * @opentelemetry/sdk-metrics 2.x that limit is checked against the label sets recorded since the
 * last collection, which every scrape empties, while the cumulative storage keeps every series
 * ever seen. With scrapes between recordings the cap never applies and memory grows with every
 * webhook. Here the cap is ours and lasts for the process: the first `limit - 1` label sets are
 * counted by name and every later one in a single overflow series. The SDK only ever sees those
 * series, so its own storage is bounded by the same number.
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';

/**
 * The SDK's own overflow attributes, which the Prometheus exporter renders as
 * otel_metric_overflow="true": dashboards and alerts written for the SDK's cap keep working.
 */
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

interface Series {
  readonly attributes: Attributes;
  value: number;
}

export class BoundedCounter {
  private readonly series = new Map<string, Series>();
  private overflow = 0;

  /** `limit`: series held at most, the overflow one included (at least 1). */
  constructor(private readonly limit: number) {}

  /** Same order of arguments as an OpenTelemetry Counter, so call sites read the same. */
  add(value: number, attributes: Attributes): void {
    const key = keyOf(attributes);
    const counted = this.series.get(key);
    if (counted) counted.value += value;
    else if (this.series.size < this.limit - 1) this.series.set(key, { attributes: { ...attributes }, value });
    else this.overflow += value;
  }

  /** Every series' total so far; the overflow series only once something was counted in it. */
  observe(result: ObservableResult): void {
    for (const { attributes, value } of this.series.values()) result.observe(value, attributes);
    if (this.overflow > 0) result.observe(this.overflow, OVERFLOW_ATTRIBUTES);
  }

  /** A counter read by an ObservableCounter of `meter` at each collection. */
  static observed(meter: Meter, name: string, description: string, limit: number): BoundedCounter {
    const counter = new BoundedCounter(limit);
    meter.createObservableCounter(name, { description }).addCallback((result) => counter.observe(result));
    return counter;
  }
}

/**
 * One key per label set, whatever the order of its attributes (as the SDK's own hash):
 * a string build and a Map lookup per add.
 */
function keyOf(attributes: Attributes): string {
  return JSON.stringify(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
}
