/** Opaque page tokens: base64url of the last key of the previous page. */
import { InputError } from '../errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export function encodePageToken(after: string): string {
  return Buffer.from(JSON.stringify({ a: after }), 'utf8').toString('base64url');
}

/** The key to continue after, or undefined for the first page. */
export function decodePageToken(token: string): string | undefined {
  if (token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof parsed.a === 'string' && parsed.a.length <= 200) return parsed.a;
  } catch {
    // fall through to the error below
  }
  throw new InputError('page_token', 'is not a token this server issued');
}

export function pageSizeOf(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested < 0 || requested > MAX_PAGE_SIZE) {
    throw new InputError('page_size', `must be between 0 and ${MAX_PAGE_SIZE}, got ${requested}`);
  }
  return requested;
}
