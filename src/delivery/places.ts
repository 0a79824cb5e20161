/**
 * The places of one delivery worker, per webhook: deliveries claimed here and not sent out yet
 * (queued or sending), and those reserved by a claim or an ingest handoff still under way. A
 * webhook's places are capped, so that one endpoint cannot fill the worker's queue.
 */
export class Places {
  private readonly held = new Map<string, number>();

  constructor(private readonly capPerWebhook: number) {}

  isFull(webhookId: string): boolean {
    return (this.held.get(webhookId) ?? 0) >= this.capPerWebhook;
  }

  /** Webhooks with no place left: a claim query skips them. */
  full(): string[] {
    return [...this.held].filter(([, n]) => n >= this.capPerWebhook).map(([id]) => id);
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
    if (!this.allowed() || this.places.isFull(webhookId)) return false;
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
