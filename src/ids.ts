/**
 * Ids are a prefix and a ULID: sortable by creation time (pages are keyed on them) and unique
 * across replicas without coordination. Delivery ids start with "msg_", as Standard Webhooks'
 * examples do, since they are the webhook-id header.
 */
import { decodeTime, encodeTime, monotonicFactory } from 'ulid';
import { randomFraction } from './random-pool';

const next = monotonicFactory(randomFraction);

export const newWebhookId = (): string => `wh_${next()}`;
export const newDeliveryId = (): string => `msg_${next()}`;
export const newEventId = (): string => `evt_${next()}`;
export const newClaimId = (): string => `clm_${next()}`;
/** An event body's key: a bare ULID, so bodies are stored in the order they arrive. */
export const newPayloadId = (): string => next();

/** Below every delivery id made at or after `ms` (ms since the epoch), above every one made before. */
export const deliveryIdAt = (ms: number): string => `msg_${encodeTime(Math.max(0, Math.floor(ms)), 10)}`;

/** When a delivery id was made (ms since the epoch), read from its ULID; null for an id of another form. */
export function deliveryIdTime(id: string): number | null {
  if (!id.startsWith('msg_')) return null;
  try {
    return decodeTime(id.slice(4, 30));
  } catch {
    return null;
  }
}
