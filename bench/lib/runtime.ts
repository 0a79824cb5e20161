/**
 * What the sidecar's own runtime metrics (GET /metrics, the runtime-node instrumentation) say of
 * one run: its event loop's delay and its garbage collection pauses. They tell a latency tail
 * that the sidecar's process caused from one it waited out (on MariaDB, on the client).
 */
import type { Child } from './children';
import { Scrape } from '../../test/support/ops';

export interface RuntimeUse {
  /** The event loop's delay in ms over the run, its 10 ms sampling interval taken off. */
  readonly delayP99Ms: number;
  readonly delayMaxMs: number;
  /** Garbage collection pauses during the run: their number, total, and those over 10 ms. */
  readonly gcPauses: number;
  readonly gcMs: number;
  readonly gcOver10Ms: number;
  /**
   * Publish calls the sidecar timed in its ingest span (webhooks_ingest_duration_seconds, from
   * validation to commit), and how many of them took over 10 and over 25 ms: set beside the
   * client's own count, they say whether a slow call was slow inside the sidecar or around it.
   */
  readonly ingestCalls: number;
  readonly ingestOver10Ms: number;
  readonly ingestOver25Ms: number;
}

const SAMPLING_MS = 10;

export async function runtimeDuring<T>(child: Child, run: () => Promise<T>): Promise<{ result: T; runtime: RuntimeUse }> {
  // This scrape resets the delay gauges, so the next one covers the run alone.
  const before = await Scrape.of(child.metricsPort);
  const result = await run();
  const after = await Scrape.of(child.metricsPort);
  const delta = (name: string, labels: Record<string, string> = {}): number => after.value(name, labels) - before.value(name, labels);
  const delay = (name: string): number => Math.max(0, after.value(name) * 1000 - SAMPLING_MS);
  return {
    result,
    runtime: {
      delayP99Ms: delay('nodejs_eventloop_delay_p99'),
      delayMaxMs: delay('nodejs_eventloop_delay_max'),
      gcPauses: delta('v8js_gc_duration_count'),
      gcMs: delta('v8js_gc_duration_sum') * 1000,
      gcOver10Ms: delta('v8js_gc_duration_count') - delta('v8js_gc_duration_bucket', { le: '0.01' }),
      ingestCalls: delta('webhooks_ingest_duration_seconds_count'),
      ingestOver10Ms: delta('webhooks_ingest_duration_seconds_count') - delta('webhooks_ingest_duration_seconds_bucket', { le: '0.01' }),
      ingestOver25Ms: delta('webhooks_ingest_duration_seconds_count') - delta('webhooks_ingest_duration_seconds_bucket', { le: '0.025' }),
    },
  };
}

export function describeRuntime(r: RuntimeUse): string {
  return (
    `sidecar's event loop delay p99 ${r.delayP99Ms.toFixed(1)} ms, max ${r.delayMaxMs.toFixed(1)} ms; ` +
    `${r.gcPauses} GC pauses, ${r.gcMs.toFixed(0)} ms in all, ${r.gcOver10Ms} over 10 ms`
  );
}

/**
 * Calls over 10 and 25 ms as the client saw them (from each call's scheduled start) and inside
 * the sidecar's ingest span: the difference waited in gRPC, in the queues and for a core.
 */
export function describeSlowCalls(latenciesMs: readonly number[], r: RuntimeUse): string {
  const over = (ms: number): number => latenciesMs.filter((l) => l > ms).length;
  return (
    `calls over 10 / 25 ms: ${over(10)} / ${over(25)} of ${latenciesMs.length} at the client, ` +
    `${r.ingestOver10Ms} / ${r.ingestOver25Ms} of ${r.ingestCalls} in the sidecar's ingest span (validation to commit)`
  );
}
