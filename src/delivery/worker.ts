/**
 * The delivery loop of one process: claims due deliveries (as many as it has free slots), sends
 * each outside any transaction, records the attempt, and sleeps until ingest wakes it or the poll
 * interval passes (the poll finds retries that fell due and other replicas' abandoned leases).
 */
import type { Knex } from 'knex';
import { claimDue, type ClaimedDelivery } from '../outbox/claim';
import { abandon, recordAttempt, type Outcome } from '../outbox/record';
import type { SecretBox } from '../security/secret-box';
import { describeError } from '../telemetry/describe-error';
import type { Logger } from '../telemetry/logger';
import { failedBeforeSending, isSuccess, type AttemptResult } from './attempt';
import type { HttpSender } from './http-sender';
import { afterFailure } from './retry-schedule';
import { signedHeaders } from './signed-request';

export interface WorkerOptions {
  readonly concurrency: number;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  readonly maxRetries: number;
  readonly retryBaseMs: number;
}

export interface WorkerDeps {
  readonly db: Knex;
  readonly sender: HttpSender;
  readonly secrets: SecretBox;
  readonly logger: Logger;
}

export class DeliveryWorker {
  private readonly inflight = new Set<Promise<void>>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work is committed: look now instead of at the next poll. */
  wake(): void {
    this.wakePending = true;
    this.wakeUp?.();
  }

  /** Stops claiming and waits for the attempts in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await Promise.allSettled([...this.inflight]);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.options.concurrency - this.inflight.size;
      let claimed: ClaimedDelivery[] = [];
      if (free > 0) {
        this.wakePending = false;
        claimed = await this.claim(free);
        for (const delivery of claimed) this.track(this.deliver(delivery));
      }
      // A full batch means more may be due: claim again at once while slots are free.
      if (claimed.length > 0 && claimed.length === free) continue;
      await this.sleep();
    }
  }

  private async claim(limit: number): Promise<ClaimedDelivery[]> {
    try {
      // The lease outlasts the whole attempt by a margin, so a live worker never loses it.
      return await claimDue(this.deps.db, { limit, leaseMs: this.options.leaseMs, now: Date.now() });
    } catch (err) {
      this.deps.logger.warn({ error: describeError(err) }, 'claiming deliveries failed; will retry');
      return [];
    }
  }

  private track(task: Promise<void>): void {
    this.inflight.add(task);
    void task.finally(() => {
      this.inflight.delete(task);
      this.wakeUp?.(); // a slot is free
    });
  }

  private sleep(): Promise<void> {
    if (this.wakePending || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs);
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

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const log = this.deps.logger.child({ deliveryId: delivery.id, webhookId: delivery.webhookId, tenantId: delivery.tenantId });
    try {
      if (delivery.webhook === null) {
        await abandon(this.deps.db, delivery, 'the webhook was deleted', Date.now());
        return;
      }
      const result = await this.attempt(delivery, delivery.webhook.url);
      const outcome = this.outcomeOf(delivery, result);
      const kept = await recordAttempt(this.deps.db, delivery, result, outcome, Date.now());
      log.debug({ attempt: delivery.attemptCount + 1, statusCode: result.statusCode, outcome: outcome.status }, 'attempt');
      if (!isSuccess(result)) {
        log.warn({ attempt: delivery.attemptCount + 1, statusCode: result.statusCode, errorClass: result.errorClass, outcome: outcome.status }, 'attempt failed');
      }
      if (!kept) log.warn('lease lost before the attempt was recorded; another worker owns the delivery');
    } catch (err) {
      // The lease runs out and the delivery is claimed again: nothing is lost.
      log.error({ error: describeError(err) }, 'delivery failed unexpectedly; it will be retried after its lease');
    }
  }

  private async attempt(delivery: ClaimedDelivery, url: string): Promise<AttemptResult> {
    let headers: Record<string, string>;
    try {
      headers = signedHeaders(delivery, this.deps.secrets, Date.now());
    } catch {
      // A secret sealed under a key that is no longer configured: recorded as a failed attempt,
      // so the admin sees it, rather than retried silently after every lease.
      return failedBeforeSending('internal', 'the signing secret could not be decrypted with the configured keys');
    }
    return this.deps.sender.send(url, headers, delivery.payload);
  }

  private outcomeOf(delivery: ClaimedDelivery, result: AttemptResult): Outcome {
    if (isSuccess(result)) return { status: 'succeeded' };
    const { maxRetries, retryBaseMs } = this.options;
    return afterFailure(delivery.attemptCount + 1, maxRetries, retryBaseMs, Date.now());
  }
}
