/**
 * Claims due deliveries under a lease, in one short transaction: the oldest due rows are locked
 * (FOR UPDATE SKIP LOCKED on MySQL, so replicas never wait on each other's rows), stamped with a
 * fresh claim id, and their next_attempt_at is moved to the lease's end. A worker that dies
 * leaves rows that fall due again when the lease runs out; no sweeper is needed.
 */
import type { Knex } from 'knex';
import { isMysql } from '../db/connect';
import { newClaimId } from '../ids';

export interface ClaimedDelivery {
  readonly id: string;
  readonly claimId: string;
  readonly tenantId: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly eventType: string;
  /** Attempts made before this one. */
  readonly attemptCount: number;
  readonly payload: string;
  /** The event's stored W3C traceparent: the attempt's span joins that trace. */
  readonly traceContext: string | null;
  /** When this claim's lease runs out (ms since the epoch): another worker may take it then. */
  readonly leaseExpiresAt: number;
  /** True when an earlier claim's lease ran out on this delivery (its worker died or hung). */
  readonly leaseExpired: boolean;
  /** Null when the webhook was deleted after the delivery was created. */
  readonly webhook: {
    readonly url: string;
    readonly secretSealed: string;
    readonly previousSecretSealed: string | null;
    readonly previousSecretExpiresAt: number | null;
    /** The older previous secrets, as stored (src/security/previous-secrets.ts); read when signing. */
    readonly olderSecretsSealed: string | null;
    /** False once it is disabled: its deliveries are paused, and are not sent. */
    readonly enabled: boolean;
  } | null;
}

export interface ClaimOptions {
  readonly limit: number;
  readonly leaseMs: number;
  readonly now: number;
  /**
   * Per-endpoint and per-tenant fairness: called for each due row found, in order, with its
   * webhook and the tenant it is stored under; reserves a place for it and returns true, or
   * returns false and the row is left for a later claim.
   */
  readonly take?: (webhookId: string, tenantId: string) => boolean;
  /**
   * Webhooks that have no place left, or whose tenant has none: skipped in the query itself. By
   * webhook, not tenant: the due index holds webhook_id, so skipped rows are passed over in the
   * index without reading the table.
   */
  readonly saturated?: readonly string[];
}

export async function claimDue(db: Knex, options: ClaimOptions): Promise<ClaimedDelivery[]> {
  const claimId = newClaimId();
  // READ COMMITTED on MySQL: REPEATABLE READ's locking read would also take gap locks on the
  // due-time index and block ingest's inserts of new deliveries for the claim's duration.
  const isolation = isMysql(db) ? { isolationLevel: 'read committed' as const } : undefined;
  let expired = new Set<string>();
  const ids = await db.transaction(async (trx) => {
    const query = trx('deliveries')
      .select('id', 'webhook_id', 'tenant_id', 'claim_id')
      .where('status', 'pending')
      .andWhere('next_attempt_at', '<=', options.now)
      .orderBy('next_attempt_at')
      .limit(options.limit);
    if (options.saturated && options.saturated.length > 0) void query.whereNotIn('webhook_id', [...options.saturated]);
    if (isMysql(db)) void query.forUpdate().skipLocked();
    type Row = { id: string; webhook_id: string; tenant_id: string; claim_id: string | null };
    const rows = (await query) as Row[];
    const due = (options.take ? rows.filter((r) => options.take!(r.webhook_id, r.tenant_id)) : rows).map((r) => r.id);
    // A due row still stamped with a claim id: that claim's lease ran out before its write.
    // (Rows left out are not loaded below, so they need no filtering here.)
    expired = new Set(rows.filter((r) => r.claim_id !== null).map((r) => r.id));
    if (due.length > 0) {
      await trx('deliveries')
        .whereIn('id', due)
        .update({ claim_id: claimId, next_attempt_at: options.now + options.leaseMs, updated_at: options.now });
    }
    return due;
  }, isolation);
  if (ids.length === 0) return [];
  return loadClaimed(db, ids, claimId, options.now + options.leaseMs, expired);
}

async function loadClaimed(
  db: Knex,
  ids: readonly string[],
  claimId: string,
  leaseExpiresAt: number,
  expired: ReadonlySet<string>,
): Promise<ClaimedDelivery[]> {
  const rows = (await db('deliveries as d')
    .join('events as e', function joinEvent() {
      // event_tenant_id names the event's tenant (a platform webhook's delivery is stored under
      // its own scope); rows written before the migration that set it may hold null.
      this.on('e.tenant_id', '=', db.raw('COALESCE(d.event_tenant_id, d.tenant_id)')).andOn('e.id', '=', 'd.event_id');
    })
    // The body: in event_payloads, or in events itself for a row written before that table.
    .leftJoin('event_payloads as p', 'p.id', 'e.payload_id')
    .leftJoin('webhooks as w', function joinWebhook() {
      this.on('w.id', '=', 'd.webhook_id').andOn('w.tenant_id', '=', 'd.tenant_id');
    })
    // By primary key: claim_id has no index (a lookup by it alone scans the whole outbox).
    .whereIn('d.id', ids)
    .andWhere('d.claim_id', claimId)
    .select(
      'd.id',
      'd.tenant_id',
      'd.webhook_id',
      'd.event_id',
      'd.event_type',
      'd.attempt_count',
      db.raw('COALESCE(p.payload, e.payload) AS payload'),
      db.raw('COALESCE(p.trace_context, e.trace_context) AS trace_context'),
      'w.url',
      'w.secret_sealed',
      'w.previous_secret_sealed',
      'w.previous_secret_expires_at',
      'w.older_secrets_sealed',
      'w.enabled',
    )) as Array<Record<string, unknown>>;
  return rows.map((row) => ({
    id: row.id as string,
    claimId,
    tenantId: row.tenant_id as string,
    webhookId: row.webhook_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    attemptCount: Number(row.attempt_count),
    payload: row.payload as string,
    traceContext: (row.trace_context as string | null | undefined) ?? null,
    leaseExpiresAt,
    leaseExpired: expired.has(row.id as string),
    webhook:
      row.url === null || row.url === undefined
        ? null
        : {
            url: row.url as string,
            secretSealed: row.secret_sealed as string,
            previousSecretSealed: (row.previous_secret_sealed as string | null) ?? null,
            previousSecretExpiresAt:
              row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at),
            olderSecretsSealed: (row.older_secrets_sealed as string | null) ?? null,
            enabled: Boolean(row.enabled),
          },
  }));
}
