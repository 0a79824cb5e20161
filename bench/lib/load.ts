/**
 * Load shapes. Closed loop: `concurrency` callers, each starting its next call when the last one
 * ends (finds saturation). Open loop: calls start on a fixed schedule whatever the answers do, and
 * latency is measured from the scheduled start, so a stall shows up in the percentiles instead of
 * slowing the generator down (no coordinated omission).
 */
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly seconds: number;
  /** ms per call. */
  readonly latencies: number[];
}

export async function closedLoop(concurrency: number, durationMs: number, call: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const end = start + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await call(next++);
        latencies.push(performance.now() - t);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { calls: latencies.length, errors, seconds: (performance.now() - start) / 1000, latencies };
}

export async function openLoop(ratePerSec: number, durationMs: number, call: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.floor((ratePerSec * durationMs) / 1000);
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const scheduled = start + (i * 1000) / ratePerSec;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      call(i).then(
        () => void latencies.push(performance.now() - scheduled),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(pending);
  return { calls: latencies.length, errors, seconds: (performance.now() - start) / 1000, latencies };
}
