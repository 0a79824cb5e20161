/**
 * The worker's send stage (src/delivery/worker.ts): the POSTs under way, at most `concurrency`
 * of them, at most maxInFlightPerWebhook per webhook and maxInFlightPerTenant per tenant, and the attempts whose results the
 * batched recorder is still writing. A slot is free as soon as its POST ends; the recording
 * goes on meanwhile, up to RECORDING_PER_SLOT attempts per slot before sending waits for it.
 */
import { setMaxListeners } from 'node:events';
import type { ClaimedDelivery } from '../outbox/claim';
import { describeError } from '../telemetry/describe-error';
import { deliverOnce, type DeliverDeps, type RetryPolicy } from './deliver';
import type { HealthPolicy } from './endpoint-health';
import { bump } from './places';

export interface SendOptions extends RetryPolicy, HealthPolicy {
  readonly concurrency: number;
  readonly maxInFlightPerWebhook: number;
  /** A platform webhook's deliveries are under PLATFORM_SCOPE: the platform is one tenant. */
  readonly maxInFlightPerTenant: number;
}

/** Attempts whose results are being written at most, per slot: beyond it sending waits. */
const RECORDING_PER_SLOT = 8;

interface Sending {
  readonly claim: ClaimedDelivery;
  task: Promise<void>;
}

export class SendStage {
  /** POSTs under way, by delivery id. */
  private readonly sending = new Map<string, Sending>();
  /** Per webhook: POSTs under way (the endpoint's concurrency). */
  private readonly sendingPer = new Map<string, number>();
  /** Per tenant: POSTs under way, so one tenant's many slow endpoints leave slots to the others. */
  private readonly sendingPerTenant = new Map<string, number>();
  /** Attempts whose POST has begun and whose result is not written yet. */
  private readonly recording = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly deps: DeliverDeps,
    private readonly options: SendOptions,
    /** A POST ended (or never began): its slot is free, after durationMs from the attempt's start. */
    private readonly onSlotFree: (delivery: ClaimedDelivery, durationMs: number) => void,
    /**
     * An attempt's result is written: the recording queue has room. `wasFull`: it had none
     * before, so sending and claiming, which wait for room, may go on again.
     */
    private readonly onRecorded: (wasFull: boolean) => void,
  ) {
    // Every attempt in flight listens for the shutdown cut: `concurrency` listeners is expected.
    setMaxListeners(options.concurrency + 10, this.stopping.signal);
  }

  /** POSTs under way. */
  get size(): number {
    return this.sending.size;
  }

  recordingIsFull(): boolean {
    return this.recording.size >= this.options.concurrency * RECORDING_PER_SLOT;
  }

  /** A slot is free, the recording keeps up, and the webhook and its tenant are below their caps. */
  mayLaunch(webhookId: string, tenantId: string): boolean {
    return (
      this.sending.size < this.options.concurrency &&
      !this.recordingIsFull() &&
      (this.sendingPer.get(webhookId) ?? 0) < this.options.maxInFlightPerWebhook &&
      (this.sendingPerTenant.get(tenantId) ?? 0) < this.options.maxInFlightPerTenant
    );
  }

  launch(delivery: ClaimedDelivery): void {
    bump(this.sendingPer, delivery.webhookId, 1);
    bump(this.sendingPerTenant, delivery.tenantId, 1);
    const startedAt = performance.now();
    // Registered before the attempt starts: one that ends at once (its webhook was deleted) frees
    // its slot from inside deliverOnce, and an entry added after that would hold the slot for good.
    const entry: Sending = { claim: delivery, task: Promise.resolve() };
    this.sending.set(delivery.id, entry);
    let sent = false;
    const freeSlot = (): void => {
      if (sent) return;
      sent = true;
      if (this.sending.get(delivery.id) === entry) this.sending.delete(delivery.id);
      bump(this.sendingPer, delivery.webhookId, -1);
      bump(this.sendingPerTenant, delivery.tenantId, -1);
      this.onSlotFree(delivery, performance.now() - startedAt);
    };
    const task = deliverOnce(this.deps, this.options, delivery, this.stopping.signal, freeSlot)
      .then(() => undefined)
      .catch((err: unknown) => {
        // The lease runs out and the delivery is claimed again: nothing is lost.
        this.deps.logger.error(
          { error: describeError(err), deliveryId: delivery.id },
          'recording an attempt failed; the delivery is retried after its lease',
        );
      })
      .finally(() => {
        freeSlot();
        const wasFull = this.recordingIsFull();
        this.recording.delete(task);
        this.onRecorded(wasFull);
      });
    entry.task = task;
    this.recording.add(task);
  }

  /**
   * Lets the POSTs under way finish for up to graceMs, then cuts the rest; returns the claims of
   * those cut, once their attempts have ended.
   */
  async drain(graceMs: number): Promise<ClaimedDelivery[]> {
    const tasks = [...this.sending.values()].map((f) => f.task);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled(tasks), graceOver]);
    clearTimeout(timer);
    if (this.sending.size === 0) return [];
    const cut = [...this.sending.values()].map((f) => f.claim);
    this.stopping.abort();
    await Promise.allSettled([...this.sending.values()].map((f) => f.task));
    return cut;
  }

  /** Returns once every result is written. */
  async recorded(): Promise<void> {
    await Promise.allSettled([...this.recording]);
  }
}
