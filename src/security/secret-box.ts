/**
 * Encryption of webhook signing secrets at rest (AES-256-GCM).
 *
 * Sealed form: `v1.<keyId>.<base64url iv>.<base64url ciphertext>.<base64url tag>`, ASCII only so
 * it fits a plain VARCHAR/TEXT column on MySQL and SQLite alike. The key id lets `open` pick the
 * right key during a key rotation instead of trying each one. Callers pass associated data that
 * names the row (e.g. `${tenantId}/${webhookId}`), so a ciphertext copied into another row fails
 * to open instead of silently handing that webhook someone else's secret.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const FORMAT_VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit IVs are GCM's native size; random ones are safe far beyond the number of secrets we seal.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_HEX_CHARS = 8;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const KEY_ID = /^[0-9a-f]{8}$/;

interface SealedParts {
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** A short, non-secret fingerprint of a key: a preimage of SHA-256 reveals nothing useful. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, KEY_ID_HEX_CHARS);
}

function decodePart(part: string, name: string, expectedBytes?: number): Buffer {
  // Buffer.from(_, 'base64url') skips invalid characters, so check the alphabet first.
  if (!BASE64URL.test(part)) {
    throw new Error(`sealed secret is malformed: ${name} is not base64url`);
  }
  const bytes = Buffer.from(part, 'base64url');
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) {
    throw new Error(`sealed secret is malformed: ${name} must be ${expectedBytes} bytes`);
  }
  return bytes;
}

function parseSealed(sealed: string): SealedParts {
  const parts = sealed.split('.');
  if (parts.length !== 5) {
    throw new Error('sealed secret is malformed: expected 5 dot-separated parts');
  }
  const [version, keyId, iv, ciphertext, tag] = parts;
  if (version !== FORMAT_VERSION) {
    throw new Error('sealed secret has an unsupported format version');
  }
  if (!KEY_ID.test(keyId)) {
    throw new Error('sealed secret is malformed: bad key id');
  }
  return {
    keyId,
    iv: decodePart(iv, 'iv', IV_BYTES),
    ciphertext: decodePart(ciphertext, 'ciphertext'),
    tag: decodePart(tag, 'tag', TAG_BYTES),
  };
}

export class SecretBox {
  private readonly sealingKeyId: string;
  private readonly sealingKey: Buffer;
  private readonly keysById = new Map<string, Buffer>();

  /** The first key seals; every key opens, so old ciphertexts survive a key rotation. */
  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) {
      throw new Error('SecretBox needs at least one key');
    }
    keys.forEach((key, index) => {
      if (key.length !== KEY_BYTES) {
        throw new Error(`encryption key #${index + 1} must be ${KEY_BYTES} bytes, got ${key.length}`);
      }
      const id = keyIdOf(key);
      const known = this.keysById.get(id);
      if (known !== undefined && !known.equals(key)) {
        throw new Error(`encryption keys #${index + 1} and another share key id ${id}`);
      }
      // Copy, so a caller that later zeroes or reuses its buffer cannot change our keys.
      this.keysById.set(id, Buffer.from(key));
    });
    this.sealingKeyId = keyIdOf(keys[0]);
    this.sealingKey = Buffer.from(keys[0]);
  }

  seal(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.sealingKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [FORMAT_VERSION, this.sealingKeyId, iv, ciphertext, tag]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  /** True when `sealed` is under the sealing (first) key; a key rotation re-seals the others. */
  isCurrent(sealed: string): boolean {
    return parseSealed(sealed).keyId === this.sealingKeyId;
  }

  /** `sealed` under the sealing (first) key: as it is when it is already, else opened and sealed again. */
  reseal(sealed: string, associatedData: string): string {
    return this.isCurrent(sealed) ? sealed : this.seal(this.open(sealed, associatedData), associatedData);
  }

  open(sealed: string, associatedData: string): string {
    const parts = parseSealed(sealed);
    const key = this.keysById.get(parts.keyId);
    if (key === undefined) {
      throw new Error(`sealed secret uses unknown encryption key id ${parts.keyId}`);
    }
    const decipher = createDecipheriv(ALGORITHM, key, parts.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(parts.tag);
    try {
      return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
    } catch (cause) {
      // One message for both cases: GCM cannot tell a tampered ciphertext from a wrong row.
      throw new Error('sealed secret failed authentication (tampered, or sealed for another row)', {
        cause,
      });
    }
  }
}
