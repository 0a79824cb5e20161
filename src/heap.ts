/**
 * How far V8 lets the old generation grow past its live size before the next full collection.
 *
 * V8 picks that factor itself, up to 4 when collections are cheap, as they are here: the
 * sidecar's live heap is about 35 MB, and while it drained a backlog its old generation filled
 * up to 125 MB with rows and requests that had lived just long enough to be promoted, so its RSS
 * swung between 130 and 230 MB. A fixed 1.6 kept it at 127-147 MB over a 1,000,000-row drain,
 * with no CPU cost that could be told from the noise; 1.3 kept it flatter still, but the sidecar
 * then spent 61-72 µs of CPU per batched event instead of 42-44 (BENCHMARKS.md, the fourth
 * session's memory section). V8 reads the factor at each collection, so setting it once the
 * process runs works. An operator's own `node --heap-growing-percent=N` wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 60;

/** Sets the factor unless node was started with one; says whether it did. */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
