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
    },
  };
}

export function describeRuntime(r: RuntimeUse): string {
  return (
    `sidecar's event loop delay p99 ${r.delayP99Ms.toFixed(1)} ms, max ${r.delayMaxMs.toFixed(1)} ms; ` +
    `${r.gcPauses} GC pauses, ${r.gcMs.toFixed(0)} ms in all, ${r.gcOver10Ms} over 10 ms`
  );
}
