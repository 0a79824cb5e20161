/** Queries on the webhooks table. Every one filters by tenant_id. */
import type { Knex } from 'knex';
import { isMysql } from '../db/connect';
import { retryOnDeadlock } from '../db/deadlock';
import { UnavailableError } from '../errors';
import { pauseDeliveries, resumeDeliveries } from '../outbox/pause';
import { countStatusChange, resetStreak } from '../outbox/stats';
import {
  PREVIOUS_SECRET_COLUMNS,
  previousSecretColumns,
  previousSecretsOf,
  type PreviousSecret,
  type PreviousSecretColumns,
} from '../security/previous-secrets';

export interface WebhookRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly organizationIds: readonly string[] | null;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A webhook's secrets as stored: the current one and the previous ones, newest first. */
export interface StoredSecrets {
  readonly sealed: string;
  readonly previous: readonly PreviousSecret[];
}

/** What a rotation writes. */
export interface SecretRotation extends StoredSecrets {
  readonly now: number;
}

/** The columns that hold a webhook's secrets, as a fenced write compares them. */
export type SecretRow = PreviousSecretColumns & { secret_sealed: string };

export const SECRET_COLUMNS = ['secret_sealed', ...PREVIOUS_SECRET_COLUMNS] as const;

/** Limits `query` to a row whose secrets are still the ones read into `row`. */
export function whereSecretsAre(query: Knex.QueryBuilder, row: SecretRow): Knex.QueryBuilder {
  for (const column of SECRET_COLUMNS) {
    const value = row[column];
    if (value === null) void query.whereNull(column);
    else void query.andWhere(column, value);
  }
  return query;
}

/**
 * Reads of a secret a rotation makes before it gives up. Only a writer that takes no lock can
 * change the secret between the read and the fenced write, and each one changes it once.
 */
const ROTATE_ATTEMPTS = 5;

export type WebhookChanges = Partial<
  Pick<WebhookRecord, 'url' | 'description' | 'eventTypes' | 'organizationIds' | 'enabled' | 'disabledReason'>
>;

interface WebhookRow {
  id: string;
  tenant_id: string;
  url: string;
  description: string;
  event_types: string;
  organization_ids: string | null;
  enabled: number | boolean;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = [
  'id',
  'tenant_id',
  'url',
  'description',
  'event_types',
  'organization_ids',
  'enabled',
  'disabled_reason',
  'created_at',
  'updated_at',
];

export class WebhookStore {
  constructor(private readonly db: Knex) {}

  /**
   * The webhook and its counters row, together, unless the tenant has `maxPerTenant` webhooks
   * already (false, and nothing is written). On MySQL the count locks the rows it counts, in a
   * READ COMMITTED transaction, so concurrent creates (on any replica) cannot together go past
   * the limit: a count waits for a create whose row is not committed yet, and then counts it (a
   * new id sorts after the tenant's others, so the row lies ahead of the count's scan).
   *
   * Not REPEATABLE READ: there the locking count also locks the gap where the tenant's rows would
   * go. For a tenant with no webhook yet that is all it locks, every racer can hold the same gap
   * at once, and each one's insert then waits for the others': all but one were rolled back as
   * deadlock victims, over and over (12 first creates at once in each of two new tenants failed 7
   * of 24 times after three tries). SQLite runs one write transaction at a time.
   */
  async insert(record: WebhookRecord, secretSealed: string, maxPerTenant: number): Promise<boolean> {
    const mysql = isMysql(this.db);
    return retryOnDeadlock(() =>
      this.db.transaction(
        async (trx) => {
          const count = trx('webhooks').where('tenant_id', record.tenantId).count({ n: '*' });
          if (mysql) void count.forUpdate();
          const row = (await count.first()) as { n: number | string };
          if (Number(row.n) >= maxPerTenant) return false;
          await trx('webhooks').insert({
            ...toColumns(record),
            id: record.id,
            tenant_id: record.tenantId,
            created_at: record.createdAt,
            updated_at: record.updatedAt,
            secret_sealed: secretSealed,
          });
          await trx('webhook_stats').insert({ webhook_id: record.id, tenant_id: record.tenantId });
          return true;
        },
        mysql ? { isolationLevel: 'read committed' } : undefined,
      ),
    );
  }

  async get(tenantId: string, id: string): Promise<WebhookRecord | undefined> {
    const row = (await this.db('webhooks').select(COLUMNS).where({ tenant_id: tenantId, id }).first()) as
      | WebhookRow
      | undefined;
    return row && fromRow(row);
  }

  /** A page in id (creation) order, after the given id. */
  async list(tenantId: string, after: string | undefined, limit: number): Promise<WebhookRecord[]> {
    const query = this.db('webhooks').select(COLUMNS).where('tenant_id', tenantId).orderBy('id').limit(limit);
    if (after !== undefined) void query.andWhere('id', '>', after);
    return ((await query) as WebhookRow[]).map(fromRow);
  }

  /**
   * False when the tenant has no such webhook. Disabling pauses the webhook's waiting deliveries;
   * enabling resumes them (or discards them) and starts a new failure streak.
   */
  async update(
    tenantId: string,
    id: string,
    changes: WebhookChanges,
    options: { now: number; discardPaused: boolean },
  ): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const before = (await trx('webhooks').select('enabled').where({ tenant_id: tenantId, id }).forUpdate().first()) as
        | { enabled: number | boolean }
        | undefined;
      if (!before) return false;
      await trx('webhooks')
        .where({ tenant_id: tenantId, id })
        .update({ ...toColumns(changes), updated_at: options.now });
      // Only a change of state pauses or resumes: an admin tool that always sends enabled=true
      // must not reset the failure streak of a dead endpoint on every save.
      const wasEnabled = Boolean(before.enabled);
      if (changes.enabled === false && wasEnabled) await pauseDeliveries(trx, tenantId, id, options.now);
      if (changes.enabled === true && !wasEnabled) {
        const resumed = await resumeDeliveries(trx, tenantId, id, options.discardPaused, options.now);
        if (options.discardPaused) await countStatusChange(trx, tenantId, id, { failed: resumed });
        await resetStreak(trx, tenantId, id);
      }
      return true;
    });
  }

  /** Deletes the webhook with its deliveries, their attempts and its counters; false when there was none. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const deleted = await trx('webhooks').where({ tenant_id: tenantId, id }).delete();
      if (deleted === 0) return false;
      for (const table of ['delivery_attempts', 'deliveries', 'webhook_stats', 'webhook_stats_hourly']) {
        await trx(table).where({ tenant_id: tenantId, webhook_id: id }).delete();
      }
      return true;
    });
  }

  /**
   * Replaces the secrets with what `next` makes of the stored ones: the new secret signs from now
   * on, each previous one beside it until its own expiry. False when the tenant has no such
   * webhook.
   *
   * The read and the write are one step. Two rotations that both read secret S0 and then both
   * wrote (S1, previous S0) and (S2, previous S0) each answered OK, but S1 was dropped without
   * ever signing as a previous secret, and whoever kept it failed (on MySQL, 10 races of 10). On
   * MySQL the read locks the row, so concurrent rotations (on any replica) take turns; the write
   * is also fenced on the secrets read, so a writer that takes no lock (`db reencrypt-secrets`,
   * or another process on one SQLite file) makes this read again rather than be overwritten.
   */
  async rotateSecret(tenantId: string, id: string, next: (current: StoredSecrets) => SecretRotation): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await retryOnDeadlock(() => this.db.transaction((trx) => this.rotateOnce(trx, tenantId, id, next)));
      if (outcome !== 'changed') return outcome === 'rotated';
      if (attempt >= ROTATE_ATTEMPTS) throw new UnavailableError('the secret changed while it was being rotated; try again');
    }
  }

  private async rotateOnce(
    trx: Knex.Transaction,
    tenantId: string,
    id: string,
    next: (current: StoredSecrets) => SecretRotation,
  ): Promise<'missing' | 'rotated' | 'changed'> {
    const read = trx('webhooks').select(SECRET_COLUMNS).where({ tenant_id: tenantId, id });
    if (isMysql(this.db)) void read.forUpdate();
    const row = (await read.first()) as SecretRow | undefined;
    if (!row) return 'missing';
    const rotation = next({ sealed: row.secret_sealed, previous: previousSecretsOf(row) });
    const updated = await whereSecretsAre(trx('webhooks').where({ tenant_id: tenantId, id }), row).update({
      secret_sealed: rotation.sealed,
      ...previousSecretColumns(rotation.previous),
      updated_at: rotation.now,
    });
    return updated > 0 ? 'rotated' : 'changed';
  }
}

function toColumns(changes: WebhookChanges): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (changes.url !== undefined) columns.url = changes.url;
  if (changes.description !== undefined) columns.description = changes.description;
  if (changes.eventTypes !== undefined) columns.event_types = JSON.stringify(changes.eventTypes);
  if (changes.organizationIds !== undefined) {
    columns.organization_ids = changes.organizationIds === null ? null : JSON.stringify(changes.organizationIds);
  }
  if (changes.enabled !== undefined) columns.enabled = changes.enabled;
  if (changes.disabledReason !== undefined) columns.disabled_reason = changes.disabledReason;
  return columns;
}

function fromRow(row: WebhookRow): WebhookRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    description: row.description,
    eventTypes: JSON.parse(row.event_types) as string[],
    organizationIds: row.organization_ids === null ? null : (JSON.parse(row.organization_ids) as string[]),
    enabled: Boolean(row.enabled),
    disabledReason: row.disabled_reason,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
