/**
 * The worker's side of ingest's handoff (src/ingest/event-store.ts): places reserved for the
 * deliveries an ingest transaction writes, which reach the worker already claimed after the
 * commit instead of through a claim transaction. A reserved place counts in the worker's load
 * until its delivery is kept or the place is given back.
 */
import type { Handoff } from '../ingest/event-store';
import { newClaimId } from '../ids';
import type { ClaimedDelivery } from '../outbox/claim';
import type { Places, Reservation } from './places';

export interface HandoffHooks {
  /** The worker runs and holds fewer deliveries than it may: a handoff may take one more place. */
  hasRoom(): boolean;
  readonly leaseMs: number;
  /** After the commit: the deliveries written claimed for this worker, their places kept. */
  accept(claimed: readonly ClaimedDelivery[]): void;
}

export class Handoffs {
  /** Handoffs under way that hold places. */
  private readonly open = new Set<Reservation>();

  constructor(
    private readonly places: Places,
    private readonly hooks: HandoffHooks,
  ) {}

  /** Places reserved by the handoffs under way. */
  get reserved(): number {
    let reserved = 0;
    for (const places of this.open) reserved += places.size;
    return reserved;
  }

  begin(now: number): Handoff {
    const places = this.places.reserve(() => this.hooks.hasRoom());
    return {
      claimId: newClaimId(),
      leaseExpiresAt: now + this.hooks.leaseMs,
      take: (webhookId, tenantId) => {
        if (!places.take(webhookId, tenantId)) return false;
        this.open.add(places);
        return true;
      },
      release: () => {
        places.release();
        this.open.delete(places);
      },
      deliver: (claimed) => {
        places.keep(claimed);
        this.open.delete(places);
        this.hooks.accept(claimed);
      },
    };
  }
}
