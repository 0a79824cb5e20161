/**
 * One pass over the worker's queue of claimed deliveries (src/delivery/worker.ts): each is sent
 * now, kept for later, given back, or held for a fresh read of its webhook. Sending happens inside
 * the pass, since each launch takes a slot that the next delivery's `mayLaunch` must see.
 */
import type { ClaimedDelivery } from '../outbox/claim';
import { leaseCoversAttempt } from './lease';
import type { WebhookView } from './webhook-views';

export interface ReadyPassHooks {
  readonly requestTimeoutMs: number;
  /** Whether a slot is free for this delivery's webhook and tenant. */
  mayLaunch(delivery: ClaimedDelivery): boolean;
  /** Its webhook as it may be sent now; undefined when the view is too old (src/delivery/webhook-views.ts). */
  viewFor(delivery: ClaimedDelivery, now: number): WebhookView | undefined;
  launch(delivery: ClaimedDelivery): void;
}

export interface ReadyPass {
  /** Still queued: no slot yet, or waiting for a fresh view of its webhook. */
  readonly keep: ClaimedDelivery[];
  /** Kept for want of a fresh view: their webhooks are to be read again. */
  readonly stale: ClaimedDelivery[];
  /** Their webhook is disabled: given back still paused, to go out when it is enabled. */
  readonly disabled: ClaimedDelivery[];
  /** Their leases could run out before an attempt ended: given back. */
  readonly late: ClaimedDelivery[];
}

/** `now` is on the database's clock, as lease ends are. */
export function passOverReady(ready: readonly ClaimedDelivery[], now: number, hooks: ReadyPassHooks): ReadyPass {
  const pass: ReadyPass = { keep: [], stale: [], disabled: [], late: [] };
  for (const delivery of ready) {
    if (!leaseCoversAttempt(delivery.leaseExpiresAt, now, hooks.requestTimeoutMs)) pass.late.push(delivery);
    else if (!hooks.mayLaunch(delivery)) pass.keep.push(delivery);
    else {
      const view = hooks.viewFor(delivery, now);
      if (view === undefined) {
        pass.keep.push(delivery);
        pass.stale.push(delivery);
      } else if (view !== null && !view.enabled) {
        pass.disabled.push(delivery);
      } else {
        // A deleted webhook (null) is ended by the attempt itself, fenced like any write.
        hooks.launch(view === delivery.webhook ? delivery : { ...delivery, webhook: view });
      }
    }
  }
  return pass;
}
