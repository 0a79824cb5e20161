/**
 * The delivery loop of one process, as a pipeline of three stages that overlap:
 *
 * - **claim**: due deliveries are claimed under a lease (src/outbox/claim.ts) into a local queue
 *   ahead of need, from twice the slots up to six times as many for fast endpoints (the queue
 *   must start within half a request timeout: src/delivery/pace.ts), so a free slot never waits
 *   for a claim transaction;
 *   ingest hands over the deliveries it writes while there is room (openHandoff), already
 *   claimed, so a live event skips the claim altogether;
 * - **send**: up to `concurrency` POSTs at once, at most maxInFlightPerWebhook per webhook and
 *   maxInFlightPerTenant per tenant, taken from the queue in claim order, skipping webhooks and
 *   tenants at their cap;
 * - **record**: a slot is free as soon as its POST ends; the attempt's result is written by the
 *   batched recorder meanwhile (its row keeps the claim, so nobody else takes it until then).
 *
 * It sleeps until ingest wakes it, a slot frees, or the poll interval passes (the poll finds
 * retries that fell due and leases that other replicas left behind).
 */
import type { Handoff } from '../ingest/event-store';
import { claimDue, type ClaimedDelivery } from '../outbox/claim';
import { OutageLog } from '../telemetry/outage-log';
import { Alarm } from './alarm';
import type { DeliverDeps } from './deliver';
import { leaseMsFor } from './lease';
import { LeaseReturns } from './lease-returns';
import { ClaimDepth } from './pace';
import { Handoffs } from './handoffs';
import { Places } from './places';
import { passOverReady, type ReadyPassHooks } from './ready-queue';
import { SendStage, type SendOptions } from './send-stage';
import { WebhookViews } from './webhook-views';

export interface WorkerOptions extends SendOptions {
  readonly pollIntervalMs: number;
  readonly requestTimeoutMs: number;
}

/** How long a few free places wait for more before they are claimed for anyway. */
const CLAIM_DELAY_MS = 10;
/**
 * Claim transactions under way at once. Two would overlap one claim's round trips with the
 * other's (FOR UPDATE SKIP LOCKED keeps their rows apart), but measured no faster on two cores:
 * each got half the rows. Places are reserved per row found, so a higher number stays correct.
 */
const CLAIMS_IN_FLIGHT = 1;

export class DeliveryWorker {
  /** Claimed here and not sent yet, in claim order. */
  private ready: ClaimedDelivery[] = [];
  /** POSTs under way, and attempts whose results are being written. */
  private readonly send: SendStage;
  /** Claim transactions under way. */
  private readonly claims = new Set<Promise<void>>();
  /** Places asked for by the claims under way. */
  private claimingRoom = 0;
  /** Leases of deliveries that will not be sent here, being given back. */
  private readonly leases: LeaseReturns;
  /** Ingest handoffs under way, with the places they reserved. */
  private readonly handoffs: Handoffs;
  /** Per webhook: deliveries claimed (or being claimed) here and not sent out yet. */
  private readonly places: Places;
  /** How far ahead of the slots to claim, here and per webhook, by how long attempts take. */
  private readonly depth: ClaimDepth;
  private pumping = false;
  private pumpAgain = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly alarm = new Alarm();
  private wakePending = false;
  private lastClaimAt = 0;
  /** The last claim filled every place it asked for, or ingest said new work is due. */
  private moreDue = false;
  /** Due rows may be left (see startClaim): only then does a freed slot start a claim. */
  private dueLeft = true;
  /** A slot was freed while a claim was under way. */
  private freedDuringClaim = false;
  private readonly claimFailures: OutageLog;
  /** Each webhook's URL, secrets and state as last read: a queued delivery is sent from a recent one. */
  private readonly views: WebhookViews;
  private readonly readyHooks: ReadyPassHooks;

  constructor(
    private readonly deps: DeliverDeps,
    private readonly options: WorkerOptions,
  ) {
    const { concurrency, maxInFlightPerWebhook, requestTimeoutMs, maxInFlightPerTenant } = options;
    this.depth = new ClaimDepth(concurrency, maxInFlightPerWebhook, requestTimeoutMs, maxInFlightPerTenant);
    this.places = new Places(
      (webhookId) => this.depth.capOf(webhookId),
      (tenantId) => this.depth.tenantCapOf(tenantId),
    );
    this.leases = new LeaseReturns(deps.db, deps.logger, deps.clock);
    this.handoffs = new Handoffs(this.places, {
      hasRoom: () => this.running && this.held < this.depth.capacity,
      leaseMs: leaseMsFor(requestTimeoutMs),
      accept: (claimed) => {
        if (!this.running) void this.drop(claimed);
        else {
          this.ready.push(...claimed);
          this.pump();
        }
      },
    });
    this.send = new SendStage(
      // The deliveries queued for a webhook that an attempt just disabled are not sent either.
      { ...deps, onWebhookDisabled: (webhookId) => this.views.changed(webhookId) },
      options,
      (delivery, durationMs) => {
        this.depth.observe(delivery.webhookId, durationMs, delivery.tenantId);
        this.places.add(delivery.webhookId, -1, delivery.tenantId);
        this.pump();
        // There is room to claim; while a claim is under way the loop cannot act on it, so the
        // claim's end looks again.
        if (this.claims.size > 0) this.freedDuringClaim = true;
        if (this.dueLeft) this.alarm.wake();
      },
      (wasFull) => {
        this.pump(); // the recording queue has room
        // A full recording queue stops claims too (mayClaim): the loop that found it full is
        // asleep until the poll, and with nothing queued no slot will free to wake it.
        if (wasFull && this.dueLeft) this.alarm.wake();
      },
    );
    this.readyHooks = {
      requestTimeoutMs,
      mayLaunch: (d) => this.running && this.send.mayLaunch(d.webhookId, d.tenantId),
      viewFor: (d, now) => this.views.viewFor(d, now),
      launch: (d) => this.send.launch(d),
    };
    this.claimFailures = new OutageLog(deps.logger, 'claiming deliveries');
    this.views = new WebhookViews(deps.db, leaseMsFor(options.requestTimeoutMs), {
      clock: deps.clock,
      logger: deps.logger,
      retryMs: options.pollIntervalMs,
      refreshed: () => this.pump(),
    });
  }

  /**
   * The webhook was changed or deleted in this process: its queued deliveries wait for a fresh
   * read of it instead of going out with the old URL or secret, or to a disabled endpoint.
   */
  webhookChanged(webhookId: string): void {
    this.views.changed(webhookId);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work is committed: look now instead of at the next poll. */
  wake(): void {
    this.wakePending = true;
    this.moreDue = this.dueLeft = true;
    this.alarm.wake();
  }

  /**
   * Stops claiming and gives back what was claimed but not started, lets attempts in flight
   * finish for up to graceMs, then cuts the rest and gives their leases back too, so another
   * replica (or the next start) sends them at once. Returns after every result is written.
   */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.alarm.wake();
    await this.loop;
    await Promise.allSettled([...this.claims]);
    const unsent = this.ready;
    this.ready = [];
    await this.leases.giveBack(unsent);
    await this.leases.giveBack(await this.send.drain(graceMs));
    await this.send.recorded();
  }

  /**
   * Places for deliveries being written by ingest (src/ingest/event-store.ts): those it takes
   * are written claimed and come here after the commit, skipping a claim transaction and its
   * wait. Undefined while stopped; a handoff takes nothing once the worker is full.
   */
  openHandoff(now: number): Handoff | undefined {
    return this.running ? this.handoffs.begin(now) : undefined;
  }

  /**
   * After stop() and after ingest has stopped too: returns once the deliveries of handoffs that
   * committed after stop() are given back, so the database may close.
   */
  settled(): Promise<void> {
    return this.leases.settled();
  }

  /** Frees the places of claimed deliveries that will not be sent here, and gives them back. */
  private drop(claims: readonly ClaimedDelivery[], pausedOnly = false): Promise<void> {
    for (const delivery of claims) this.places.add(delivery.webhookId, -1, delivery.tenantId);
    return this.leases.giveBack(claims, pausedOnly);
  }

  /** Places taken: queued, sending, asked for by the claims under way, reserved by handoffs. */
  private get held(): number {
    return this.ready.length + this.send.size + this.claimingRoom + this.handoffs.reserved;
  }

  /**
   * Claims wait until there is room for a quarter of the slots, or
   * nothing is held, or a few milliseconds have passed since the last claim: claiming one row
   * each time one attempt ends would cost a claim transaction, and its commit, per delivery.
   */
  private mayClaim(): boolean {
    const room = this.depth.capacity - this.held;
    if (room <= 0 || this.claims.size >= CLAIMS_IN_FLIGHT || this.send.recordingIsFull()) return false;
    const threshold = Math.max(1, Math.floor(this.options.concurrency / 4));
    return room >= threshold || this.held === 0 || Date.now() - this.lastClaimAt >= CLAIM_DELAY_MS;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.mayClaim()) {
        this.lastClaimAt = Date.now();
        this.wakePending = false;
        this.startClaim(this.depth.capacity - this.held);
        continue; // a second claim may start beside it
      }
      await this.sleep();
    }
  }

  /**
   * Claims up to `room` deliveries in the background. Each due row's place is reserved for its
   * webhook as the claim finds it, so two claims under way never overfill one endpoint; the
   * places of rows that did not end up claimed are given back.
   */
  private startClaim(room: number): void {
    const places = this.places.reserve();
    this.claimingRoom += room;
    const leaseMs = leaseMsFor(this.options.requestTimeoutMs);
    const saturated = this.places.claimSkips();
    let refused = saturated.length;
    const take = (webhookId: string, tenantId: string): boolean => places.take(webhookId, tenantId) || (refused++, false);
    // The database's clock: due times and lease ends are compared across replicas.
    const claim = claimDue(this.deps.db, { limit: room, leaseMs, now: this.deps.clock.now(), saturated, take })
      .then(
        (claimed) => {
          this.claimFailures.succeeded();
          return claimed;
        },
        (err: unknown) => {
          this.claimFailures.failed(err);
          return [] as ClaimedDelivery[];
        },
      )
      .then((claimed) => {
        places.keep(claimed);
        this.places.claimed(places);
        this.claimingRoom -= room;
        this.claims.delete(claim);
        this.ready.push(...claimed);
        this.pump();
        // A full batch means more may be due: look again at once while there is room. (Waking
        // the loop after a short batch would claim again at once, polling the database.) So does
        // work that ingest announced meanwhile: this claim may have looked before its commit,
        // and the loop, asleep until the poll while the claim held the room, has no other cue.
        this.moreDue = claimed.length === room || this.wakePending;
        if (this.moreDue) this.wake();
        // A short one may still have left rows it skipped for want of places; otherwise a freed
        // slot finds nothing new, and the poll looks instead.
        else this.dueLeft = refused > 0;
        // Slots freed during the claim woke a loop that could not claim then: without a look now,
        // a claim that found nothing left it asleep until the poll (the drain bench fell to 99/s).
        if (this.freedDuringClaim && this.dueLeft) this.alarm.wake();
        this.freedDuringClaim = false;
      });
    this.claims.add(claim);
  }

  /**
   * Starts queued deliveries while slots are free, in claim order, skipping capped webhooks.
   * A slot freed from inside (an attempt that ends at once) asks for another pass instead of
   * walking the queue while this pass does.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    if (this.ready.length === 0) return;
    const { keep, stale, disabled, late } = passOverReady(this.ready, this.deps.clock.now(), this.readyHooks);
    this.ready = keep;
    if (stale.length > 0) this.views.refreshSoon(stale);
    if (disabled.length > 0) void this.drop(disabled, true);
    if (late.length === 0) return;
    // Given back, it is due again, and nothing else may come to claim it before the poll (its
    // claim may have found nothing more, and no slot is busy).
    void this.drop(late).then(() => this.wake());
  }

  private sleep(): Promise<void> {
    // A wake-up only matters when a claim may follow: otherwise returning at once would spin
    // this loop on resolved promises and starve the event loop (the slot-freeing I/O included).
    if (!this.running || (this.wakePending && this.mayClaim())) return Promise.resolve();
    // With work due and some room, look again once the claim delay has passed; otherwise at the
    // poll interval (a wake-up or a freed slot comes sooner).
    const soon = this.moreDue && this.held < this.depth.capacity;
    return this.alarm.sleep(soon ? Math.min(CLAIM_DELAY_MS, this.options.pollIntervalMs) : this.options.pollIntervalMs);
  }
}
