/** Field rules of CreateWebhook and UpdateWebhook; each failure is an InputError naming the field. */
import { InputError } from '../errors';
import { PLATFORM_SCOPE } from '../grpc/auth';
import type { EventCatalog } from '../ingest/catalog/catalog';
import { isValidEventTypePattern } from '../ingest/catalog/catalog';
import { checkWebhookUrl, type AllowedRanges } from '../security/destination';

export const MAX_EVENT_TYPES = 50;
export const MAX_ORGANIZATION_IDS = 100;
export const MAX_DESCRIPTION = 1_024;
export const MAX_URL_LENGTH = 2_048;
const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface WebhookRules {
  readonly catalog: EventCatalog;
  readonly allowedCidrs: AllowedRanges;
}

export function checkUrl(url: string, rules: WebhookRules): string {
  if (url === '') throw new InputError('url', 'is required');
  const problem = checkWebhookUrl(url, rules.allowedCidrs, MAX_URL_LENGTH);
  if (problem !== undefined) throw new InputError('url', problem);
  return url;
}

/** Patterns, deduplicated in their first order. */
export function checkEventTypes(patterns: readonly string[], rules: WebhookRules): string[] {
  if (patterns.length === 0) {
    throw new InputError('event_types', 'must name at least one event type, "category.*" or "*"');
  }
  if (patterns.length > MAX_EVENT_TYPES) {
    throw new InputError('event_types', `must hold at most ${MAX_EVENT_TYPES} entries`);
  }
  patterns.forEach((pattern, i) => {
    if (!isValidEventTypePattern(pattern, rules.catalog)) {
      throw new InputError(
        `event_types[${i}]`,
        `"${pattern.slice(0, 64)}" is not an event type, a category wildcard such as "security.*", or "*"`,
      );
    }
  });
  return [...new Set(patterns)];
}

export function checkDescription(description: string): string {
  if (description.length > MAX_DESCRIPTION) {
    throw new InputError('description', `must be at most ${MAX_DESCRIPTION} characters`);
  }
  return description;
}

/**
 * Null when empty: the webhook then receives events of every organization. Organization ids are
 * a tenant's own, so a platform webhook (every tenant's events) cannot be narrowed by them.
 */
export function checkOrganizationIds(ids: readonly string[], tenantId = ''): string[] | null {
  if (tenantId === PLATFORM_SCOPE && ids.length > 0) {
    throw new InputError('organization_ids', 'must be empty for a platform webhook, which receives every tenant\'s events');
  }
  if (ids.length > MAX_ORGANIZATION_IDS) {
    throw new InputError('organization_ids', `must hold at most ${MAX_ORGANIZATION_IDS} entries`);
  }
  ids.forEach((id, i) => {
    if (!ORGANIZATION_ID.test(id)) {
      throw new InputError(`organization_ids[${i}]`, 'must be 1-128 characters of [A-Za-z0-9._:-]');
    }
  });
  return ids.length === 0 ? null : [...new Set(ids)];
}

export function checkId(id: string, field = 'id'): string {
  if (id === '') throw new InputError(field, 'is required');
  if (id.length > 64) throw new InputError(field, 'is too long');
  return id;
}
