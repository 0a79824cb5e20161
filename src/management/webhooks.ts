/** Webhook management: the rules of create, read, list, update and delete for one tenant. */
import { ExhaustedError, InputError, NotFoundError } from '../errors';
import { newWebhookId } from '../ids';
import { afterRotation } from '../security/previous-secrets';
import type { SecretBox } from '../security/secret-box';
import { generateSecret } from '../security/signing';
import { decodePageToken, encodePageToken, pageSizeOf } from './page-token';
import {
  checkDescription,
  checkEventTypes,
  checkId,
  checkOrganizationIds,
  checkUrl,
  type WebhookRules,
} from './validate-webhook';
import type { WebhookChanges, WebhookRecord, WebhookStore } from './webhook-store';

export const MAX_WEBHOOKS_PER_TENANT = 100;

export interface NewWebhook {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description: string;
  readonly organizationIds: readonly string[];
}

/** The fields UpdateWebhook may change, as field-mask paths. */
export interface WebhookPatch {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string;
  readonly enabled?: boolean;
  readonly organizationIds?: readonly string[];
}

export interface ManagerOptions {
  readonly secretOverlapMs: number;
  /** Deliveries became due (a webhook was enabled again): wake the workers. */
  readonly onDeliveriesDue: () => void;
  /**
   * A webhook's URL, secret or state changed, or it was deleted, and the change is committed: this
   * process's worker must not send its queued deliveries from what it read before.
   */
  readonly onWebhookChanged?: (webhookId: string) => void;
  readonly clock?: () => number;
}

export class WebhookManager {
  private readonly clock: () => number;

  constructor(
    private readonly store: WebhookStore,
    private readonly secrets: SecretBox,
    private readonly rules: WebhookRules,
    private readonly options: ManagerOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  async create(tenantId: string, input: NewWebhook): Promise<{ webhook: WebhookRecord; secret: string }> {
    const now = this.clock();
    const webhook: WebhookRecord = {
      id: newWebhookId(),
      tenantId,
      url: checkUrl(input.url, this.rules),
      eventTypes: checkEventTypes(input.eventTypes, this.rules),
      description: checkDescription(input.description),
      organizationIds: checkOrganizationIds(input.organizationIds, tenantId),
      enabled: true,
      disabledReason: null,
      createdAt: now,
      updatedAt: now,
    };
    const secret = generateSecret();
    if (!(await this.store.insert(webhook, this.secrets.seal(secret, secretContext(tenantId, webhook.id)), MAX_WEBHOOKS_PER_TENANT))) {
      throw new ExhaustedError(`a tenant may have at most ${MAX_WEBHOOKS_PER_TENANT} webhooks`);
    }
    return { webhook, secret };
  }

  async get(tenantId: string, id: string): Promise<WebhookRecord> {
    const webhook = await this.store.get(tenantId, checkId(id));
    if (!webhook) throw notFound(id);
    return webhook;
  }

  async list(
    tenantId: string,
    pageSize: number,
    pageToken: string,
  ): Promise<{ webhooks: WebhookRecord[]; nextPageToken: string }> {
    const limit = pageSizeOf(pageSize);
    const list = { rpc: 'ListWebhooks', tenantId };
    const after = decodePageToken(pageToken, list);
    // One more than asked tells whether another page follows without a count query.
    const rows = await this.store.list(tenantId, after, limit + 1);
    const webhooks = rows.slice(0, limit);
    const nextPageToken = rows.length > limit ? encodePageToken(webhooks[webhooks.length - 1]!.id, list) : '';
    return { webhooks, nextPageToken };
  }

  async update(tenantId: string, id: string, patch: WebhookPatch, discardPaused = false): Promise<WebhookRecord> {
    checkId(id, 'webhook.id');
    const changes: { -readonly [K in keyof WebhookChanges]: WebhookChanges[K] } = {};
    if (patch.url !== undefined) changes.url = prefixed('webhook.', () => checkUrl(patch.url!, this.rules));
    if (patch.eventTypes !== undefined) {
      changes.eventTypes = prefixed('webhook.', () => checkEventTypes(patch.eventTypes!, this.rules));
    }
    if (patch.description !== undefined) {
      changes.description = prefixed('webhook.', () => checkDescription(patch.description!));
    }
    if (patch.organizationIds !== undefined) {
      changes.organizationIds = prefixed('webhook.', () => checkOrganizationIds(patch.organizationIds!, tenantId));
    }
    if (patch.enabled !== undefined) {
      changes.enabled = patch.enabled;
      if (patch.enabled) changes.disabledReason = null;
    }
    if (!(await this.store.update(tenantId, id, changes, { now: this.clock(), discardPaused }))) throw notFound(id);
    this.options.onWebhookChanged?.(id);
    if (changes.enabled === true && !discardPaused) this.options.onDeliveriesDue();
    return this.get(tenantId, id);
  }

  /**
   * A new secret; the current one becomes the newest previous secret and keeps signing beside it
   * for the overlap window, so receivers can switch without losing a delivery. Earlier previous
   * secrets keep their own windows: at most MAX_PREVIOUS_SECRETS are kept, the oldest dropped
   * first, and expired ones are pruned here.
   */
  async rotateSecret(tenantId: string, id: string): Promise<{ secret: string; previousExpiresAt: number | null }> {
    checkId(id);
    const now = this.clock();
    const secret = generateSecret();
    const overlap = this.options.secretOverlapMs;
    const previousExpiresAt = overlap > 0 ? now + overlap : null;
    const context = secretContext(tenantId, id);
    const sealed = this.secrets.seal(secret, context);
    const rotated = await this.store.rotateSecret(tenantId, id, (current) => {
      const replaced = previousExpiresAt === null ? null : { sealed: current.sealed, expiresAt: previousExpiresAt };
      // Under the newest key, as the new one is: a rotation during an encryption key rotation
      // would otherwise keep a secret under the old key, which `db reencrypt-secrets` (its fenced
      // write lost to this one) assumes whoever changed the row did not.
      const previous = afterRotation(current.previous, replaced, now).map((s) => ({ ...s, sealed: this.secrets.reseal(s.sealed, context) }));
      return { sealed, previous, now };
    });
    if (!rotated) throw notFound(id);
    this.options.onWebhookChanged?.(id);
    return { secret, previousExpiresAt };
  }

  async delete(tenantId: string, id: string): Promise<void> {
    if (!(await this.store.delete(tenantId, checkId(id)))) throw notFound(id);
    this.options.onWebhookChanged?.(id);
  }
}

/** The associated data of a sealed secret: a ciphertext moved to another row fails to open. */
export function secretContext(tenantId: string, webhookId: string): string {
  return `${tenantId}/${webhookId}`;
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`webhook "${id.slice(0, 64)}" not found`);
}

/** Field names of an update are paths inside the request's `webhook`. */
function prefixed<T>(prefix: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InputError) throw new InputError(prefix + err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
}
