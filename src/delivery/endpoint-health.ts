/**
 * When a webhook is disabled by the sidecar: at once on 410 Gone (the receiver says the endpoint
 * is gone for good), or when its failures have gone on long enough, in count and in time, that it
 * is dead rather than briefly down. Count alone would disable a busy endpoint after a minute's
 * outage; time alone would disable a quiet one after two unlucky attempts.
 */
import type { Streak } from '../outbox/stats';
import type { AttemptResult } from './attempt';

export interface HealthPolicy {
  /** 0 turns the streak rule off. */
  readonly disableAfterFailures: number;
  readonly disableAfterMs: number;
}

/** Why the webhook must be disabled after this attempt, or undefined. */
export function disableReason(
  result: AttemptResult,
  streak: Streak,
  policy: HealthPolicy,
  now: number,
): string | undefined {
  if (result.statusCode === 410) return 'the endpoint answered 410 Gone';
  if (policy.disableAfterFailures === 0 || streak.failingSince === null) return undefined;
  if (streak.consecutiveFailures < policy.disableAfterFailures) return undefined;
  if (now - streak.failingSince < policy.disableAfterMs) return undefined;
  return `${streak.consecutiveFailures} consecutive failed attempts since ${new Date(streak.failingSince).toISOString()}`;
}
