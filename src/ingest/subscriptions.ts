/**
 * Which webhooks get an event: the tenant's webhooks whose patterns and organizations match, and
 * the platform webhooks (PLATFORM_SCOPE) whose patterns match, whatever the tenant. A disabled
 * webhook gets its deliveries too, paused: they are sent if it is enabled again.
 */
import type { Tx } from '../db/transaction';
import { PLATFORM_SCOPE } from '../grpc/auth';
import { matchesEventType } from './catalog/catalog';
import type { ValidEvent } from './validate-event';

export interface Subscription {
  readonly id: string;
  /** The webhook's tenant, or PLATFORM_SCOPE; its deliveries are stored under this scope. */
  readonly tenantId: string;
  readonly eventTypes: readonly string[];
  /** Null: every organization (and events without one). */
  readonly organizationIds: readonly string[] | null;
  readonly enabled: boolean;
  /** What an attempt needs, so a delivery can go to the local worker as it is written. */
  readonly url: string;
  readonly secretSealed: string;
  readonly previousSecretSealed: string | null;
  readonly previousSecretExpiresAt: number | null;
  readonly olderSecretsSealed: string | null;
}

const SUBSCRIPTION_COLUMNS =
  'id, tenant_id, event_types, organization_ids, enabled, url, secret_sealed, previous_secret_sealed, previous_secret_expires_at, older_secrets_sealed';

/**
 * The webhooks of these tenants, in one query, grouped by tenant; every tenant's list also holds
 * the platform webhooks, so callers need not know they exist.
 *
 * On MySQL the read locks the rows it returns in share mode until the ingest transaction ends, as
 * a foreign key to webhooks would. A plain read sees a snapshot: a DeleteWebhook or a disable
 * that committed between it and ingest's COMMIT left deliveries written for the webhook as it had
 * been (a row for a deleted webhook, a pending one for a disabled webhook), and a delivery handed
 * to the local worker went to the deleted webhook's URL after the admin's call had answered OK.
 * With the lock, such a change waits for the ingest transactions that read the webhook, then
 * applies to what they wrote; ingest waits for a change under way, then reads it. Share locks do
 * not wait for each other. SQLite runs one write transaction at a time, so there it is plain.
 */
export async function loadSubscriptions(tx: Tx, tenantIds: readonly string[]): Promise<Map<string, Subscription[]>> {
  const byTenant = new Map<string, Subscription[]>();
  if (tenantIds.length === 0) return byTenant;
  const scopes = [...tenantIds, PLATFORM_SCOPE];
  const rows = await tx.select<{
    id: string;
    tenant_id: string;
    event_types: string;
    organization_ids: string | null;
    enabled: number | boolean;
    url: string;
    secret_sealed: string;
    previous_secret_sealed: string | null;
    previous_secret_expires_at: number | string | null;
    older_secrets_sealed: string | null;
  }>(
    'webhooks',
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhooks WHERE tenant_id IN (${scopes.map(() => '?').join(', ')})${tx.mysql ? ' LOCK IN SHARE MODE' : ''}`,
    scopes,
  );
  for (const row of rows) {
    const sub: Subscription = {
      id: row.id,
      tenantId: row.tenant_id,
      eventTypes: JSON.parse(row.event_types) as string[],
      organizationIds: row.organization_ids === null ? null : (JSON.parse(row.organization_ids) as string[]),
      enabled: Boolean(row.enabled),
      url: row.url,
      secretSealed: row.secret_sealed,
      previousSecretSealed: row.previous_secret_sealed,
      previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at),
      olderSecretsSealed: row.older_secrets_sealed,
    };
    const list = byTenant.get(sub.tenantId) ?? [];
    list.push(sub);
    byTenant.set(sub.tenantId, list);
  }
  const platform = byTenant.get(PLATFORM_SCOPE) ?? [];
  byTenant.delete(PLATFORM_SCOPE);
  if (platform.length === 0) return byTenant;
  for (const tenantId of tenantIds) byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), ...platform]);
  return byTenant;
}

export function subscribes(sub: Subscription, event: ValidEvent): boolean {
  if (sub.tenantId !== event.tenantId && sub.tenantId !== PLATFORM_SCOPE) return false;
  if (!sub.eventTypes.some((pattern) => matchesEventType(pattern, event.type))) return false;
  if (sub.organizationIds === null) return true;
  return event.organizationId !== null && sub.organizationIds.includes(event.organizationId);
}
