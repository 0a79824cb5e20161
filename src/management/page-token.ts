/**
 * Opaque page tokens: base64url of the last key of the previous page and a digest of the list
 * the page came from (the RPC, the tenant, and the filters that define the list).
 *
 * The digest is a binding, not a signature. A token carried no binding before: a ListDeliveries
 * token given to ListWebhooks silently restarted paging at an unrelated key, and one from tenant
 * A was accepted under tenant B. Every query filters by the caller's tenant whatever the token
 * says, and the key only says where in that list to go on, so a forged token reads nothing a
 * first page could not; what the digest adds is a clear INVALID_ARGUMENT for a token used with
 * another list. No HMAC: there is nothing a key would protect that the tenant filter does not.
 * page_size is not part of the list: a caller may change it between pages.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** The list a token pages through. Filters that are unset are undefined. */
export interface PageList {
  readonly rpc: string;
  readonly tenantId: string;
  readonly filters?: Readonly<Record<string, string | number | undefined>>;
}

export function encodePageToken(after: string, list: PageList): string {
  return Buffer.from(JSON.stringify({ a: after, l: bindingOf(list) }), 'utf8').toString('base64url');
}

/** The key to continue after, or undefined for the first page. */
export function decodePageToken(token: string, list: PageList): string | undefined {
  if (token === '') return undefined;
  let parsed: { a?: unknown; l?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown; l?: unknown };
  } catch {
    // fall through to the error below
  }
  if (typeof parsed?.a !== 'string' || parsed.a.length > 200 || typeof parsed.l !== 'string') {
    throw new InputError('page_token', 'is not a token this server issued');
  }
  if (parsed.l !== bindingOf(list)) {
    throw new InputError('page_token', 'is from another list: pass a token with the RPC, tenant and filters of the request that returned it');
  }
  return parsed.a;
}

/** 128 bits of SHA-256: the tenant id is not spelled out in a token a log or a browser may keep. */
function bindingOf(list: PageList): string {
  const filters = Object.entries(list.filters ?? {})
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([list.rpc, list.tenantId, filters])).digest('base64url').slice(0, 22);
}

export function pageSizeOf(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested < 0 || requested > MAX_PAGE_SIZE) {
    throw new InputError('page_size', `must be between 0 and ${MAX_PAGE_SIZE}, got ${requested}`);
  }
  return requested;
}
