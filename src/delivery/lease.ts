/**
 * How long a claim holds a delivery. The lease is derived from the request timeout, so the two
 * cannot drift: a claimed delivery may wait in the worker's queue up to half a request timeout
 * before its attempt starts (leaseCoversAttempt), the attempt takes at most one, and its
 * recording has the rest, over a second.
 */
export function leaseMsFor(requestTimeoutMs: number): number {
  return 2 * requestTimeoutMs + 1_000;
}

/** The lease still covers a whole attempt and, after it, half a timeout and a second to record it. */
export function leaseCoversAttempt(leaseExpiresAt: number, now: number, requestTimeoutMs: number): boolean {
  return leaseExpiresAt - now >= requestTimeoutMs + requestTimeoutMs / 2 + 1_000;
}
