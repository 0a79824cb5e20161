/**
 * How far ahead of its slots a delivery worker claims, from how long attempts take.
 *
 * A claimed delivery may wait in the worker's queue up to half a request timeout before its
 * attempt starts (src/delivery/lease.ts). With n attempts under way at once, each taking d ms, a
 * queue of n × T/(2d) deliveries is started within that. So fast endpoints get a deeper queue
 * (bigger claims, fewer claim transactions per delivery), while slow endpoints, and endpoints not
 * seen yet, get twice their slots, as every endpoint did before. In the drain bench, claims
 * capped at twice the slots took 10-13 ms for 32 rows. The queue was empty in two thirds of the
 * samples, and on average 8 of the 32 slots were sending (BENCHMARKS.md, seventh session).
 */

/** Deliveries held per slot (queued and sending) at the least: an unknown or slow endpoint's. */
export const MIN_AHEAD = 2;
/** At the most: bounds the memory and the work a stopping worker gives back. */
export const MAX_AHEAD = 6;
/** The weight of the latest attempt in the running mean. */
const WEIGHT = 0.2;

export class Pace {
  private meanMs: number | undefined;

  constructor(private readonly requestTimeoutMs: number) {}

  /** An attempt took this long (from its start to the end of its POST). */
  observe(durationMs: number): void {
    this.meanMs = this.meanMs === undefined ? durationMs : this.meanMs + WEIGHT * (durationMs - this.meanMs);
  }

  /** Deliveries to hold per slot, queued and sending: MIN_AHEAD until attempts are seen to be fast. */
  get ahead(): number {
    if (this.meanMs === undefined) return MIN_AHEAD;
    const rounds = Math.floor(this.requestTimeoutMs / 2 / Math.max(1, this.meanMs));
    return Math.min(MAX_AHEAD, Math.max(MIN_AHEAD, 1 + rounds));
  }
}

/** The paces of the webhooks attempted most recently, at most `limit` of them. */
export class Paces {
  private readonly byWebhook = new Map<string, Pace>();

  constructor(
    private readonly requestTimeoutMs: number,
    private readonly limit = 4_096,
  ) {}

  observe(webhookId: string, durationMs: number): void {
    let pace = this.byWebhook.get(webhookId);
    if (pace) this.byWebhook.delete(webhookId); // re-inserted last: the map keeps the recent ones
    else {
      pace = new Pace(this.requestTimeoutMs);
      if (this.byWebhook.size >= this.limit) this.byWebhook.delete(this.byWebhook.keys().next().value!);
    }
    pace.observe(durationMs);
    this.byWebhook.set(webhookId, pace);
  }

  ahead(webhookId: string): number {
    return this.byWebhook.get(webhookId)?.ahead ?? MIN_AHEAD;
  }
}

/**
 * A worker's depths: how many deliveries it holds at most (`concurrency` slots' worth, by the
 * pace of all its attempts), how many of one webhook (its in-flight cap's worth, by that
 * webhook's own pace), and how many of one tenant (its in-flight cap's worth, by the pace of that
 * tenant's attempts).
 */
export class ClaimDepth {
  private readonly all: Pace;
  private readonly byWebhook: Paces;
  private readonly byTenant: Paces;

  constructor(
    private readonly concurrency: number,
    private readonly maxInFlightPerWebhook: number,
    requestTimeoutMs: number,
    private readonly maxInFlightPerTenant = Infinity,
  ) {
    this.all = new Pace(requestTimeoutMs);
    this.byWebhook = new Paces(requestTimeoutMs);
    this.byTenant = new Paces(requestTimeoutMs);
  }

  observe(webhookId: string, durationMs: number, tenantId?: string): void {
    this.all.observe(durationMs);
    this.byWebhook.observe(webhookId, durationMs);
    if (tenantId !== undefined) this.byTenant.observe(tenantId, durationMs);
  }

  /** Deliveries held at most, queued and sending. */
  get capacity(): number {
    return this.concurrency * this.all.ahead;
  }

  /** Deliveries to this webhook held at most. */
  capOf(webhookId: string): number {
    return this.maxInFlightPerWebhook * this.byWebhook.ahead(webhookId);
  }

  /** Deliveries of this tenant's webhooks held at most. */
  tenantCapOf(tenantId: string): number {
    return this.maxInFlightPerTenant * this.byTenant.ahead(tenantId);
  }
}
