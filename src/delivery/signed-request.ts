/** The headers of one attempt (DESIGN.md, "What a receiver gets"), signed with every active secret. */
import { secretContext } from '../management/webhooks';
import type { ClaimedDelivery } from '../outbox/claim';
import { activeAt, previousSecretsOf } from '../security/previous-secrets';
import type { SecretBox } from '../security/secret-box';
import { decodeSecret, sign } from '../security/signing';

export const USER_AGENT = 'webhooks-sidecar/0.1 (+https://www.standardwebhooks.com)';

/** Opened signing keys kept, at most (the busiest webhooks' keys, in memory only). */
const OPENED_KEYS = 1_024;

/**
 * Signing keys by sealed secret and row: opening one (parse, AES-GCM) for every attempt cost
 * more CPU than the HMAC itself. A rotation seals a new secret, so a kept key never goes stale;
 * the key stays in this process's memory, where the signing needs it anyway.
 */
const opened = new WeakMap<SecretBox, Map<string, Buffer>>();

function signingKey(secrets: SecretBox, sealed: string, context: string): Buffer {
  let keys = opened.get(secrets);
  if (!keys) opened.set(secrets, (keys = new Map()));
  const id = `${context}\u0000${sealed}`;
  let key = keys.get(id);
  if (key === undefined) {
    key = decodeSecret(secrets.open(sealed, context));
    if (keys.size >= OPENED_KEYS) keys.delete(keys.keys().next().value!); // the oldest
    keys.set(id, key);
  }
  return key;
}

export function signedHeaders(delivery: ClaimedDelivery, secrets: SecretBox, now: number): Record<string, string> {
  const webhook = delivery.webhook!;
  const context = secretContext(delivery.tenantId, delivery.webhookId);
  const previous = previousSecretsOf({
    previous_secret_sealed: webhook.previousSecretSealed,
    previous_secret_expires_at: webhook.previousSecretExpiresAt,
    older_secrets_sealed: webhook.olderSecretsSealed,
  });
  // After rotations each replaced secret signs beside the new one until its own overlap ends.
  const keys = [webhook.secretSealed, ...activeAt(previous, now).map((s) => s.sealed)].map((sealed) => signingKey(secrets, sealed, context));
  const timestamp = Math.floor(now / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': delivery.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign(keys, delivery.id, timestamp, delivery.payload),
  };
}
