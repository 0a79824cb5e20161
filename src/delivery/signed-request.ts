/** The headers of one attempt (DESIGN.md, "What a receiver gets"), signed with every active secret. */
import { secretContext } from '../management/webhooks';
import type { ClaimedDelivery } from '../outbox/claim';
import type { SecretBox } from '../security/secret-box';
import { decodeSecret, sign } from '../security/signing';

export const USER_AGENT = 'webhooks-sidecar/0.1 (+https://www.standardwebhooks.com)';

export function signedHeaders(delivery: ClaimedDelivery, secrets: SecretBox, now: number): Record<string, string> {
  const webhook = delivery.webhook!;
  const context = secretContext(delivery.tenantId, delivery.webhookId);
  const keys = [decodeSecret(secrets.open(webhook.secretSealed, context))];
  // After a rotation the previous secret signs beside the new one until its overlap ends.
  if (webhook.previousSecretSealed !== null && (webhook.previousSecretExpiresAt ?? 0) > now) {
    keys.push(decodeSecret(secrets.open(webhook.previousSecretSealed, context)));
  }
  const timestamp = Math.floor(now / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': delivery.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign(keys, delivery.id, timestamp, delivery.payload),
  };
}
