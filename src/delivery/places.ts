/**
 * The places of one delivery worker, per webhook: deliveries claimed here and not sent out yet
 * (queued or sending), and those reserved by a claim or an ingest handoff still under way. A
 * webhook's places are capped, so that one endpoint cannot fill the worker's queue; the cap
 * follows the endpoint's pace (src/delivery/pace.ts).
 */
export class Places {
  private readonly held = new Map<string, number>();
  /** Webhooks whose due rows overflowed a claim: see claimSkips. */
  private readonly overflowed = new Set<string>();

  constructor(private readonly capOf: (webhookId: string) => number) {}

  isFull(webhookId: string): boolean {
    return (this.held.get(webhookId) ?? 0) >= this.capOf(webhookId);
  }

  /** Webhooks with no place left: a claim query skips them. */
  full(): string[] {
    return [...this.held].filter(([id, n]) => n >= this.capOf(id)).map(([id]) => id);
  }

  /**
   * The webhooks a claim skips in its query: those with no place left, and those that
   * overflowed a claim (it found more of their due rows than they had places) and have not got
   * back a quarter of their places since. A claim takes the oldest due rows up to its LIMIT and only
   * then each webhook's places, so a webhook with a backlog of old due rows and a place or two
   * would fill the LIMIT with rows it cannot take. A hanging endpoint gets one place back each
   * time an attempt times out, that is before nearly every claim: its backlog kept the other
   * webhooks' newer rows out of every claim until it drained (minutes). Skipped until a quarter
   * of its places are free, it takes them in one claim, and the claims between reach the others;
   * a busy healthy webhook still has the rest of its places queued when it is looked at again.
   * Skipping a webhook walks its due rows' entries in the claim's index, so this costs the drain
   * bench, whose webhooks each have 10,000 rows due at once, about a fifth more MariaDB CPU per
   * delivery; asking again past such webhooks within the same claim cost a third (BENCHMARKS.md).
   */
  claimSkips(): string[] {
    const skip = new Set(this.full());
    for (const id of this.overflowed) {
      if ((this.held.get(id) ?? 0) * 4 > this.capOf(id) * 3) skip.add(id);
      else this.overflowed.delete(id);
    }
    return [...skip];
  }

  /** After a claim: the webhooks it found with no place left for their due rows. */
  claimed(reservation: Reservation): void {
    for (const id of reservation.refused) this.overflowed.add(id);
  }

  add(webhookId: string, n: number): void {
    bump(this.held, webhookId, n);
  }

  /** Places taken one delivery at a time, kept for those that end up claimed. */
  reserve(allowed: () => boolean = () => true): Reservation {
    return new Reservation(this, allowed);
  }
}

export class Reservation {
  private readonly taken = new Map<string, number>();
  private count = 0;
  /** Webhooks that were asked for a place here and had none left. */
  readonly refused = new Set<string>();

  constructor(
    private readonly places: Places,
    private readonly allowed: () => boolean,
  ) {}

  /** Places reserved and not yet kept or given back. */
  get size(): number {
    return this.count;
  }

  /** Reserves a place for one delivery to this webhook; false when it has none. */
  take(webhookId: string): boolean {
    if (!this.allowed()) return false;
    if (this.places.isFull(webhookId)) {
      this.refused.add(webhookId);
      return false;
    }
    this.places.add(webhookId, 1);
    bump(this.taken, webhookId, 1);
    this.count += 1;
    return true;
  }

  /** The deliveries claimed keep their places (now held); every other place is given back. */
  keep(claimed: ReadonlyArray<{ readonly webhookId: string }>): void {
    for (const delivery of claimed) bump(this.taken, delivery.webhookId, -1);
    this.count -= claimed.length;
    this.release();
  }

  /** Gives back every place reserved and not kept. */
  release(): void {
    for (const [webhookId, n] of this.taken) this.places.add(webhookId, -n);
    this.taken.clear();
    this.count = 0;
  }
}

export function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
