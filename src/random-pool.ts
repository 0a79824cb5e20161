/**
 * Cryptographic random bytes drawn from a pool refilled 4 KiB at a time: ids and trace ids are
 * made per event and per delivery, and one randomFillSync call per few bytes cost more CPU than
 * the bytes themselves.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** A fresh copy of n random bytes (n at most 4 KiB). */
export function randomBytesPooled(n: number): Buffer {
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + n));
  offset += n;
  return bytes;
}

/** A uniform fraction in [0, 1) with 8 bits of randomness: the PRNG ulid asks for per character. */
export function randomFraction(): number {
  if (offset + 1 > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  return pool[offset++]! / 256;
}
