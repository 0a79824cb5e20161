/**
 * One attempt of one claimed delivery: sign, POST, decide what comes next, record it all.
 * Failures are data: whatever happens becomes an attempt row, except a shutdown cut, after which
 * the caller gives the lease back.
 */
import type { Knex } from 'knex';
import { abandon, type Outcome, type Recorded } from '../outbox/record';
import type { AttemptRecorder } from '../outbox/recorder';
import type { ClaimedDelivery } from '../outbox/claim';
import type { Clock } from '../db/db-clock';
import type { SecretBox } from '../security/secret-box';
import { DeliveryTelemetry } from '../telemetry/delivery-telemetry';
import type { Logger } from '../telemetry/logger';
import { outgoingTraceHeaders } from '../telemetry/trace-context';
import { failedBeforeSending, isSuccess, type AttemptResult } from './attempt';
import type { HealthPolicy } from './endpoint-health';
import type { HttpSender } from './http-sender';
import { afterFailure, parseRetryAfter } from './retry-schedule';
import { signedHeaders } from './signed-request';

export interface DeliverDeps {
  readonly db: Knex;
  readonly sender: HttpSender;
  readonly secrets: SecretBox;
  readonly logger: Logger;
  /** Writes attempts in batches. */
  readonly recorder: AttemptRecorder;
  /** The database's clock, for every time written to it (the next attempt's due time above all). */
  readonly clock: Clock;
  /** The webhook.deliver span and the delivery metrics; parts built alone (tests) need none. */
  readonly telemetry?: DeliveryTelemetry;
  /** An attempt's write disabled its webhook (a 410, a failure streak). */
  readonly onWebhookDisabled?: (webhookId: string) => void;
}

const UNOBSERVED = new DeliveryTelemetry();

export interface RetryPolicy {
  readonly maxRetries: number;
  readonly retryBaseMs: number;
}

/**
 * Returns undefined when the attempt was cut by a shutdown and nothing was recorded. `onSent` is
 * called when the POST has ended (or did not happen), before the result is written: the caller's
 * slot for the endpoint is free from then on.
 */
export async function deliverOnce(
  deps: DeliverDeps,
  policy: RetryPolicy & HealthPolicy,
  delivery: ClaimedDelivery,
  stopping: AbortSignal,
  onSent: () => void = () => undefined,
): Promise<Recorded | undefined> {
  const telemetry = deps.telemetry ?? UNOBSERVED;
  if (delivery.webhook === null) {
    onSent();
    await abandon(deps.db, delivery, 'the webhook was deleted', deps.clock.now());
    telemetry.abandoned(delivery);
    return { kept: true };
  }
  const url = delivery.webhook.url;
  return telemetry.attempt(delivery, async () => {
    const result = await attempt(deps, delivery, url, stopping);
    if (stopping.aborted) return undefined;
    onSent();
    const at = deps.clock.now();
    const outcome = outcomeOf(delivery, result, policy, at);
    const recorded = await deps.recorder.record({ claimed: delivery, result, outcome, at });
    telemetry.recorded(delivery, result, outcome, recorded);
    logAttempt(deps.logger, delivery, result, outcome, recorded);
    if (recorded.disabledReason !== undefined) deps.onWebhookDisabled?.(delivery.webhookId);
    return recorded;
  });
}

async function attempt(deps: DeliverDeps, delivery: ClaimedDelivery, url: string, stopping: AbortSignal): Promise<AttemptResult> {
  // A claim that found no body (its event_payloads row deleted by hand, say) must not go out as
  // an empty POST that a receiver skipping verification would take for the event.
  if (typeof delivery.payload !== 'string') {
    return failedBeforeSending('internal', 'the event body is missing from the database');
  }
  let headers: Record<string, string>;
  try {
    // The previous secret's end was stamped on the database's clock, so it is read on it too.
    headers = signedHeaders(delivery, deps.secrets, deps.clock.now());
  } catch {
    // A secret sealed under a key that is no longer configured: recorded as a failed attempt,
    // so the admin sees it, rather than retried silently after every lease.
    return failedBeforeSending('internal', 'the signing secret could not be decrypted with the configured keys');
  }
  return deps.sender.send(url, { ...headers, ...outgoingTraceHeaders() }, delivery.payload, stopping);
}

/** `now` is the database's clock: the retry's due time is compared with every replica's. */
export function outcomeOf(delivery: ClaimedDelivery, result: AttemptResult, policy: RetryPolicy, now: number): Outcome {
  if (isSuccess(result)) return { status: 'succeeded' };
  const throttled = result.statusCode === 429 || result.statusCode === 503;
  const retryAfterMs = throttled ? parseRetryAfter(result.responseHeaders['retry-after'], now) : undefined;
  return afterFailure(delivery.attemptCount + 1, policy.maxRetries, policy.retryBaseMs, now, Math.random, retryAfterMs);
}

function logAttempt(logger: Logger, delivery: ClaimedDelivery, result: AttemptResult, outcome: Outcome, recorded: Recorded): void {
  const fields = {
    deliveryId: delivery.id,
    webhookId: delivery.webhookId,
    tenantId: delivery.tenantId,
    attempt: delivery.attemptCount + 1,
    statusCode: result.statusCode,
    durationMs: result.durationMs,
    outcome: outcome.status,
  };
  if (isSuccess(result)) logger.debug(fields, 'attempt succeeded');
  else logger.warn({ ...fields, errorClass: result.errorClass }, 'attempt failed');
  if (!recorded.kept) logger.warn(fields, 'lease lost before the attempt was recorded; another worker owns the delivery');
  if (recorded.disabledReason) logger.warn({ ...fields, reason: recorded.disabledReason }, 'webhook disabled');
}
