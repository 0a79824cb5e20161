/**
 * The places of one delivery worker, per webhook and per tenant: deliveries claimed here and not
 * sent out yet (queued or sending), and those reserved by a claim or an ingest handoff still under
 * way. A webhook's places are capped, so that one endpoint cannot fill the worker's queue; so are
 * a tenant's (its webhooks' places together), so that one tenant's many slow endpoints cannot
 * either. Both caps follow the pace of the attempts (src/delivery/pace.ts). A platform webhook's
 * deliveries are stored under PLATFORM_SCOPE, so the platform counts as one tenant of its own.
 */
export class Places {
  private readonly held = new Map<string, number>();
  private readonly heldByTenant = new Map<string, number>();
  /** Webhooks whose due rows overflowed a claim: see claimSkips. */
  private readonly overflowed = new Set<string>();
  /** Tenants whose due rows overflowed a claim: see claimSkips. */
  private readonly overflowedTenants = new Set<string>();
  /**
   * The webhooks seen of each tenant holding places here: the claim query knows rows only by
   * webhook (its index holds webhook_id, not tenant_id), so a tenant is skipped by its webhooks.
   * Forgotten once the tenant holds nothing; a webhook not seen yet is found and refused by the
   * next claim, and skipped from then on. MAX_WEBHOOKS_PER_TENANT bounds each set.
   */
  private readonly webhooksOf = new Map<string, Set<string>>();

  constructor(
    private readonly capOf: (webhookId: string) => number,
    private readonly tenantCapOf: (tenantId: string) => number = () => Infinity,
  ) {}

  isFull(webhookId: string): boolean {
    return (this.held.get(webhookId) ?? 0) >= this.capOf(webhookId);
  }

  isTenantFull(tenantId: string): boolean {
    return (this.heldByTenant.get(tenantId) ?? 0) >= this.tenantCapOf(tenantId);
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
   *
   * The same holds one level up: a tenant with a dozen hanging endpoints and a backlog on each
   * filled every claim with rows its full places refused, and the slots with its attempts, so
   * other tenants' deliveries waited for minutes. Its known webhooks are skipped alike.
   */
  claimSkips(): string[] {
    const skip = new Set(this.full());
    for (const id of this.overflowed) {
      if ((this.held.get(id) ?? 0) * 4 > this.capOf(id) * 3) skip.add(id);
      else this.overflowed.delete(id);
    }
    for (const [tenantId, webhooks] of this.webhooksOf) {
      const held = this.heldByTenant.get(tenantId) ?? 0;
      const cap = this.tenantCapOf(tenantId);
      const overflowed = this.overflowedTenants.has(tenantId) && held * 4 > cap * 3;
      if (!overflowed) this.overflowedTenants.delete(tenantId);
      if (held >= cap || overflowed) for (const id of webhooks) skip.add(id);
    }
    return [...skip];
  }

  /** After a claim: the webhooks and tenants it found with no place left for their due rows. */
  claimed(reservation: Reservation): void {
    for (const id of reservation.refused) this.overflowed.add(id);
    for (const id of reservation.refusedTenants) this.overflowedTenants.add(id);
  }

  /** Takes (n > 0) or gives back places; without a tenant, they are counted per webhook only. */
  add(webhookId: string, n: number, tenantId?: string): void {
    bump(this.held, webhookId, n);
    if (tenantId === undefined) return;
    this.seen(webhookId, tenantId);
    bump(this.heldByTenant, tenantId, n);
    if (!this.heldByTenant.has(tenantId)) this.webhooksOf.delete(tenantId);
  }

  /** Notes one of a tenant's webhooks, so that the claims skip it while the tenant is full. */
  seen(webhookId: string, tenantId: string): void {
    let webhooks = this.webhooksOf.get(tenantId);
    if (!webhooks) this.webhooksOf.set(tenantId, (webhooks = new Set()));
    webhooks.add(webhookId);
  }

  /** Places taken one delivery at a time, kept for those that end up claimed. */
  reserve(allowed: () => boolean = () => true): Reservation {
    return new Reservation(this, allowed);
  }
}

export class Reservation {
  private readonly taken = new Map<string, number>();
  /** The tenant of each webhook with places taken here, when it was given. */
  private readonly tenantOf = new Map<string, string>();
  private count = 0;
  /** Webhooks that were asked for a place here and had none left. */
  readonly refused = new Set<string>();
  /** Tenants that were asked for a place here (by a webhook with room) and had none left. */
  readonly refusedTenants = new Set<string>();

  constructor(
    private readonly places: Places,
    private readonly allowed: () => boolean,
  ) {}

  /** Places reserved and not yet kept or given back. */
  get size(): number {
    return this.count;
  }

  /** Reserves a place for one delivery to this webhook; false when it, or its tenant, has none. */
  take(webhookId: string, tenantId?: string): boolean {
    if (!this.allowed()) return false;
    if (this.places.isFull(webhookId)) {
      this.refused.add(webhookId);
      return false;
    }
    if (tenantId !== undefined && this.places.isTenantFull(tenantId)) {
      this.places.seen(webhookId, tenantId);
      this.refusedTenants.add(tenantId);
      return false;
    }
    this.places.add(webhookId, 1, tenantId);
    bump(this.taken, webhookId, 1);
    if (tenantId !== undefined) this.tenantOf.set(webhookId, tenantId);
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
    for (const [webhookId, n] of this.taken) this.places.add(webhookId, -n, this.tenantOf.get(webhookId));
    this.taken.clear();
    this.tenantOf.clear();
    this.count = 0;
  }
}

export function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
