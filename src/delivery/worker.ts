/**
 * The delivery loop of one process: claims due deliveries (as many as it has free slots, at most
 * maxInFlightPerWebhook per webhook), sends each outside any transaction, records the attempt,
 * and sleeps until ingest wakes it or the poll interval passes (the poll finds retries that fell
 * due and leases that other replicas left behind).
 */
import { setMaxListeners } from 'node:events';
import { claimDue, type ClaimedDelivery } from '../outbox/claim';
import { releaseClaims } from '../outbox/record';
import { describeError } from '../telemetry/describe-error';
import { deliverOnce, type DeliverDeps, type RetryPolicy } from './deliver';
import type { HealthPolicy } from './endpoint-health';

export interface WorkerOptions extends RetryPolicy, HealthPolicy {
  readonly concurrency: number;
  readonly maxInFlightPerWebhook: number;
  readonly pollIntervalMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * The lease is derived from the request timeout, so the two cannot drift: twice the whole-attempt
 * deadline plus a second covers the attempt and its recording with room to spare.
 */
export function leaseMsFor(requestTimeoutMs: number): number {
  return 2 * requestTimeoutMs + 1_000;
}

/** How long a few free slots wait for more before they are claimed for anyway. */
const CLAIM_DELAY_MS = 10;

export class DeliveryWorker {
  private readonly inflight = new Map<string, { claim: ClaimedDelivery; task: Promise<void> }>();
  private readonly perWebhook = new Map<string, number>();
  private readonly stopping = new AbortController();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;
  private lastClaimAt = 0;
  /** The last claim filled every slot it asked for, or ingest said new work is due. */
  private moreDue = false;

  constructor(
    private readonly deps: DeliverDeps,
    private readonly options: WorkerOptions,
  ) {
    // Every attempt in flight listens for the shutdown cut: `concurrency` listeners is expected.
    setMaxListeners(options.concurrency + 10, this.stopping.signal);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work is committed: look now instead of at the next poll. */
  wake(): void {
    this.wakePending = true;
    this.moreDue = true;
    this.wakeUp?.();
  }

  /**
   * Stops claiming, lets attempts in flight finish for up to graceMs, then cuts the rest and
   * gives their leases back so another replica (or the next start) sends them at once.
   */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    const tasks = [...this.inflight.values()].map((f) => f.task);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled(tasks), graceOver]);
    clearTimeout(timer);
    if (this.inflight.size === 0) return;
    const cut = [...this.inflight.values()].map((f) => f.claim);
    this.stopping.abort();
    await Promise.allSettled([...this.inflight.values()].map((f) => f.task));
    await releaseClaims(this.deps.db, cut, Date.now()).catch((err: unknown) =>
      this.deps.logger.warn({ error: describeError(err) }, 'releasing leases failed; they expire on their own'),
    );
  }

  /**
   * Claims wait until a quarter of the slots are free, or none is busy, or a few milliseconds
   * have passed since the last claim (slow endpoints may hold most slots for a while): claiming
   * one row each time one attempt ends would cost a claim transaction, and its commit, per
   * delivery.
   */
  private mayClaim(): boolean {
    const free = this.options.concurrency - this.inflight.size;
    if (free <= 0) return false;
    const threshold = Math.max(1, Math.floor(this.options.concurrency / 4));
    return free >= threshold || this.inflight.size === 0 || Date.now() - this.lastClaimAt >= CLAIM_DELAY_MS;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.options.concurrency - this.inflight.size;
      let claimed: ClaimedDelivery[] = [];
      if (this.mayClaim()) {
        this.lastClaimAt = Date.now();
        this.wakePending = false;
        claimed = await this.claim(free);
        this.moreDue = claimed.length === free;
        for (const delivery of claimed) this.launch(delivery);
      }
      // A full batch means more may be due: claim again at once while slots are free.
      if (claimed.length > 0 && claimed.length === free) continue;
      await this.sleep();
    }
  }

  private async claim(limit: number): Promise<ClaimedDelivery[]> {
    const cap = this.options.maxInFlightPerWebhook;
    const saturated = [...this.perWebhook].filter(([, n]) => n >= cap).map(([id]) => id);
    try {
      return await claimDue(this.deps.db, {
        limit,
        leaseMs: leaseMsFor(this.options.requestTimeoutMs),
        now: Date.now(),
        saturated,
        capacityOf: (webhookId) => cap - (this.perWebhook.get(webhookId) ?? 0),
      });
    } catch (err) {
      this.deps.logger.warn({ error: describeError(err) }, 'claiming deliveries failed; will retry');
      return [];
    }
  }

  private launch(delivery: ClaimedDelivery): void {
    this.perWebhook.set(delivery.webhookId, (this.perWebhook.get(delivery.webhookId) ?? 0) + 1);
    const task = deliverOnce(this.deps, this.options, delivery, this.stopping.signal)
      .then(() => undefined)
      .catch((err: unknown) => {
        // The lease runs out and the delivery is claimed again: nothing is lost.
        this.deps.logger.error(
          { error: describeError(err), deliveryId: delivery.id },
          'recording an attempt failed; the delivery is retried after its lease',
        );
      })
      .finally(() => {
        this.inflight.delete(delivery.id);
        const left = (this.perWebhook.get(delivery.webhookId) ?? 1) - 1;
        if (left === 0) this.perWebhook.delete(delivery.webhookId);
        else this.perWebhook.set(delivery.webhookId, left);
        this.wakeUp?.(); // a slot is free
      });
    this.inflight.set(delivery.id, { claim: delivery, task });
  }

  private sleep(): Promise<void> {
    // A wake-up only matters with a free slot: with none, returning at once would spin this
    // loop on resolved promises and starve the event loop (the slot-freeing I/O included).
    const canClaim = this.mayClaim();
    if (!this.running || (this.wakePending && canClaim)) return Promise.resolve();
    return new Promise((resolve) => {
      // With work due and a few free slots, look again once the claim delay has passed;
      // otherwise at the poll interval (a wake-up or a freed slot comes sooner).
      const soon = this.moreDue && this.inflight.size < this.options.concurrency;
      const timer = setTimeout(done, soon ? Math.min(CLAIM_DELAY_MS, this.options.pollIntervalMs) : this.options.pollIntervalMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }
}
