/**
 * When a failed delivery is tried again: a pure function, unit-tested on its own.
 *
 * The n-th retry waits base * 4^(n-1), with ±20% jitter so that deliveries failed by one outage
 * do not all come back in the same second. With the default base of 30 s and 3 retries the
 * retries come after about 30 s, 2 min and 8 min: an endpoint that is down for ten minutes
 * loses nothing.
 */
export const BACKOFF_FACTOR = 4;
export const JITTER = 0.2;
/** No single wait is longer than a day, whatever the base and the number of retries. */
export const MAX_DELAY_MS = 24 * 3600 * 1000;

/** Milliseconds to wait before retry number `retry` (1 for the first retry). */
export function retryDelayMs(retry: number, baseMs: number, random: () => number = Math.random): number {
  const exact = Math.min(baseMs * BACKOFF_FACTOR ** (retry - 1), MAX_DELAY_MS);
  const jittered = exact * (1 - JITTER + 2 * JITTER * random());
  return Math.max(1, Math.round(Math.min(jittered, MAX_DELAY_MS)));
}

export type NextStep = { status: 'pending'; nextAttemptAt: number } | { status: 'failed' };

/**
 * A receiver's Retry-After (on 429 and 503) is honoured up to this: it may ask us to wait longer
 * than the schedule would, but not to hold a security alert for a day.
 */
export const RETRY_AFTER_CAP_MS = 3600 * 1000;

/**
 * After a failed attempt: retry later, or give up once 1 + maxRetries attempts were made. A
 * Retry-After (ms) pushes the retry later than the schedule, never earlier, within its cap.
 */
export function afterFailure(
  attemptsMade: number,
  maxRetries: number,
  baseMs: number,
  now: number,
  random: () => number = Math.random,
  retryAfterMs?: number,
): NextStep {
  if (attemptsMade > maxRetries) return { status: 'failed' };
  const scheduled = retryDelayMs(attemptsMade, baseMs, random);
  const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, RETRY_AFTER_CAP_MS);
  return { status: 'pending', nextAttemptAt: now + Math.max(scheduled, asked) };
}

/** A Retry-After header (delay-seconds or an HTTP date) in ms from now; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP dates end in GMT (RFC 9110); Date.parse alone would take "-5" for a year.
  if (!/GMT$/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
