/**
 * Standard Webhooks signing (https://www.standardwebhooks.com).
 *
 * A receiver verifies `webhook-signature` with any official Standard Webhooks library, so the
 * byte layout here is fixed by that spec, not by us: HMAC-SHA256 over "{id}.{timestamp}.{body}",
 * base64, prefixed with the scheme version "v1,". Every active key signs, space-separated, so a
 * secret rotation never breaks a receiver that still holds the previous secret.
 */
import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const GENERATED_KEY_BYTES = 32;
// The spec recommends keys of 24 to 64 bytes; its own reference vector uses 24, ours use 32.
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(GENERATED_KEY_BYTES).toString('base64');
}

/**
 * The HMAC key bytes of a `whsec_` secret. Throws on a malformed secret; the message never
 * repeats the secret, because it may end up in a log.
 */
export function decodeSecret(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`signing secret must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  // Buffer.from(_, 'base64') silently skips invalid characters, so check the alphabet first.
  if (!STRICT_BASE64.test(encoded)) {
    throw new Error('signing secret is not valid base64');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw new Error(`signing secret must decode to ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/**
 * The `webhook-signature` header value: one `v1,<base64 HMAC>` per key, in the given order
 * (callers put the newest key first).
 */
export function sign(
  keys: readonly Buffer[],
  msgId: string,
  timestampSeconds: number,
  body: string,
): string {
  if (keys.length === 0) {
    throw new Error('at least one signing key is required');
  }
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error('timestamp must be a non-negative integer number of seconds');
  }
  const signedContent = `${msgId}.${timestampSeconds}.${body}`;
  return keys
    .map((key) => `v1,${createHmac('sha256', key).update(signedContent, 'utf8').digest('base64')}`)
    .join(' ');
}
