/**
 * What the worker knows of each webhook it sends to: its URL, secrets and whether it is enabled.
 * A claimed delivery carries the webhook as its claim (or ingest's handoff) read it, and waits in
 * the worker's queue for up to half a request timeout; meanwhile the admin may disable the
 * webhook, point it at another URL (for identity events, sending to the URL a tenant just
 * replaced leaks them) or rotate its secret. So a delivery is sent only from a view of its
 * webhook read at most REFRESH_MS ago and not older than the last change made in this process:
 * older ones wait for one batched SELECT of their webhooks, at most one under way at a time.
 * Deliveries sent within REFRESH_MS of their claim, the hot path, need no query at all.
 *
 * The bound: REFRESH_MS after UpdateWebhook (or RotateWebhookSecret) returns on any replica (or
 * as long as one read of the webhooks takes, if that is longer), no worker starts a POST with the
 * old URL or secret, or to the disabled webhook; on the replica that made the change, none starts
 * after it returns. POSTs already under way may finish.
 */
import type { Knex } from 'knex';
import { PROCESS_CLOCK, type Clock } from '../db/db-clock';
import type { ClaimedDelivery } from '../outbox/claim';
import { PREVIOUS_SECRET_COLUMNS } from '../security/previous-secrets';
import type { Logger } from '../telemetry/logger';
import { OutageLog } from '../telemetry/outage-log';

/** How old a view may be when a delivery is sent from it. */
export const REFRESH_MS = 1_000;

export type WebhookSnapshot = NonNullable<ClaimedDelivery['webhook']>;

/** A webhook as the worker last read it: null when it no longer exists. */
export type WebhookView = WebhookSnapshot | null;

interface Entry {
  /** The newest view read, and when its read began (it may be newer than that, never older). */
  view?: WebhookView;
  readAt: number;
  /** How long that read took. */
  readMs: number;
  /** When this process last changed the webhook: views read before then are not used. */
  changedAt: number;
}

/** What refreshSoon needs: where failures are reported, when to try again, whom to tell. */
export interface RefreshOptions {
  /**
   * The database's clock: a claim's time comes from its lease end, so the views' read and change
   * times are taken on the same clock (the process clock by default, for parts built alone).
   */
  readonly clock?: Clock;
  readonly logger: Logger;
  /** After a failed read, how long until the next (nothing else may wake a full queue). */
  readonly retryMs: number;
  /** A read ended: the deliveries that waited for it can go. */
  readonly refreshed: () => void;
}

export class WebhookViews {
  private readonly entries = new Map<string, Entry>();
  /** A refreshSoon read is under way (or waits out a failure). */
  private refreshing = false;
  /** Set while entries remain: when the oldest of them can be forgotten. */
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly failures: OutageLog | undefined;
  private readonly clock: Clock;

  constructor(
    private readonly db: Knex,
    /** How long a claim holds a delivery: a view older than that serves nothing queued. */
    private readonly leaseMs: number,
    private readonly options?: RefreshOptions,
  ) {
    this.failures = options && new OutageLog(options.logger, 'reading webhooks for queued deliveries');
    this.clock = options?.clock ?? PROCESS_CLOCK;
  }

  /**
   * The view to send this delivery from, or undefined when it must wait for a refresh. A claim
   * began reading its rows one lease before the lease's end, so that is the age of its own view.
   */
  viewFor(delivery: ClaimedDelivery, now: number): WebhookView | undefined {
    const entry = this.entries.get(delivery.webhookId);
    const claimedAt = delivery.leaseExpiresAt - this.leaseMs;
    const changedAt = entry?.changedAt ?? -Infinity;
    // Counted from the end of its read: on a database slower than REFRESH_MS, counting from its
    // start made every refresh come back too old to use, and nothing would be sent at all.
    const maxAge = REFRESH_MS + (entry?.readMs ?? 0);
    if (entry?.view !== undefined && entry.readAt > changedAt && entry.readAt >= claimedAt && now - entry.readAt <= maxAge) return entry.view;
    if (claimedAt > changedAt && now - claimedAt <= REFRESH_MS) return delivery.webhook;
    return undefined;
  }

  /** This process changed (or deleted) the webhook: views read before now are not used. */
  changed(webhookId: string): void {
    const now = this.clock.now();
    const entry = this.entries.get(webhookId);
    if (entry) entry.changedAt = now;
    else this.entries.set(webhookId, { readAt: -Infinity, readMs: 0, changedAt: now });
    this.schedulePrune();
  }

  /** How many webhooks this process holds a view or a change of. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Reads the webhooks of these deliveries again unless a read is under way already (its end
   * tells `refreshed`, and the deliveries still waiting ask again then).
   */
  refreshSoon(deliveries: readonly ClaimedDelivery[]): void {
    if (this.refreshing || !this.options) return;
    const { retryMs, refreshed } = this.options;
    this.refreshing = true;
    this.refresh(deliveries).then(
      () => {
        this.failures!.succeeded();
        this.refreshing = false;
        refreshed();
      },
      (err: unknown) => {
        this.failures!.failed(err);
        setTimeout(() => {
          this.refreshing = false;
          refreshed();
        }, retryMs).unref();
      },
    );
  }

  /** Reads the webhooks of these deliveries again, in one query. */
  async refresh(deliveries: readonly ClaimedDelivery[]): Promise<void> {
    const readAt = this.clock.now();
    this.prune(readAt);
    const keys = new Map(deliveries.map((d) => [d.webhookId, [d.tenantId, d.webhookId]]));
    const rows = (await this.db('webhooks')
      .whereIn(['tenant_id', 'id'], [...keys.values()])
      .select('id', 'enabled', 'url', 'secret_sealed', ...PREVIOUS_SECRET_COLUMNS)) as Array<Record<string, unknown>>;
    const readMs = this.clock.now() - readAt;
    const found = new Map(rows.map((row) => [row.id as string, row]));
    for (const webhookId of keys.keys()) {
      const row = found.get(webhookId);
      const view: WebhookView = row === undefined ? null : snapshotOf(row);
      const entry = this.entries.get(webhookId);
      if (!entry) this.entries.set(webhookId, { view, readAt, readMs, changedAt: -Infinity });
      else if (readAt >= entry.readAt) Object.assign(entry, { view, readAt, readMs });
    }
    this.schedulePrune();
  }

  /**
   * Forgets views and changes older than any lease: every delivery claimed before them has had
   * its lease run out, and is given back before it is looked up. Returns when the oldest entry
   * kept can go.
   */
  private prune(now: number): number {
    let next = Infinity;
    for (const [webhookId, entry] of this.entries) {
      const until = Math.max(entry.readAt, entry.changedAt) + this.leaseMs;
      if (until < now) this.entries.delete(webhookId);
      else next = Math.min(next, until);
    }
    return next;
  }

  /**
   * Prunes when the oldest entry can go, as long as any is left. Refreshes prune too, but run only
   * while deliveries wait: on a replica without backlog, every webhook changed through it (a
   * tenant creating and deleting thousands) stayed in the map for good. So the map holds at most
   * the webhooks changed or read within the last lease or so. The timer never keeps the process up.
   */
  private schedulePrune(): void {
    if (this.pruneTimer !== undefined || this.entries.size === 0) return;
    // The entries' times are on this.clock: prune and time the next prune on it too.
    const now = this.clock.now();
    const delay = this.prune(now) + 1 - now;
    if (delay === Infinity) return;
    this.pruneTimer = setTimeout(() => {
      this.pruneTimer = undefined;
      this.schedulePrune();
    }, Math.max(delay, 1)).unref();
  }
}

function snapshotOf(row: Record<string, unknown>): WebhookSnapshot {
  return {
    url: row.url as string,
    secretSealed: row.secret_sealed as string,
    previousSecretSealed: (row.previous_secret_sealed as string | null) ?? null,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at),
    olderSecretsSealed: (row.older_secrets_sealed as string | null) ?? null,
    enabled: Boolean(row.enabled),
  };
}
