/**
 * Bearer tokens per role. Each role's token may call only its own service: a valid token of
 * another role is PERMISSION_DENIED, an unknown or missing one UNAUTHENTICATED.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Tokens } from '../config/config';
import { InputError, PermissionError, UnauthenticatedError } from '../errors';

export type Role = 'ingest' | 'admin' | 'platform';

/** The roles that may call each service (the one list: the services and src/grpc/token-interceptor.ts read it). */
export const SERVICE_ROLES: Readonly<Record<string, readonly Role[]>> = {
  'webhooks.v1.EventIngest': ['ingest'],
  'webhooks.v1.WebhookManagement': ['admin', 'platform'],
};

const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * The tenant_id under which platform webhooks, their deliveries and their statistics are stored.
 * A tenant id must start with a letter or digit, so no tenant (no x-tenant-id, no event) can ever
 * name this scope, and every tenant-filtered query leaves platform rows out by construction.
 */
export const PLATFORM_SCOPE = '*platform';

export class Authenticator {
  private readonly digests: ReadonlyArray<{ role: Role; digest: Buffer }>;

  constructor(tokens: Tokens) {
    const entries: Array<[Role, string | undefined]> = [
      ['ingest', tokens.ingest],
      ['admin', tokens.admin],
      ['platform', tokens.platform],
    ];
    this.digests = entries
      .filter((e): e is [Role, string] => e[1] !== undefined)
      .map(([role, token]) => ({ role, digest: sha256(token) }));
  }

  /** The caller's role; throws unless it is one of `allowed`. */
  authorize(metadata: Metadata, allowed: readonly Role[]): Role {
    const role = this.roleOf(metadata);
    if (!allowed.includes(role)) {
      throw new PermissionError(`the ${role} token may not call this service`);
    }
    return role;
  }

  private roleOf(metadata: Metadata): Role {
    const header = metadata.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer (\S+)$/i.exec(header) : null;
    if (!match) throw new UnauthenticatedError('missing "authorization: Bearer <token>" metadata');
    // Comparing fixed-length digests in constant time: neither the token's content nor its
    // length leaks through timing. Every entry is compared, whatever matched.
    const presented = sha256(match[1]!);
    let found: Role | undefined;
    for (const { role, digest } of this.digests) {
      if (timingSafeEqual(presented, digest)) found = role;
    }
    if (!found) throw new UnauthenticatedError('invalid token');
    return found;
  }
}

/** The tenant an admin call acts for, from the x-tenant-id metadata. */
export function tenantOf(metadata: Metadata): string {
  const value = metadata.get('x-tenant-id')[0];
  if (typeof value !== 'string' || value === '') {
    throw new InputError('x-tenant-id', 'metadata is required');
  }
  if (!TENANT_ID.test(value)) {
    throw new InputError('x-tenant-id', 'must be 1-64 characters of [A-Za-z0-9._:-]');
  }
  return value;
}

/**
 * The scope of a platform-token call. Platform webhooks belong to no tenant, so an x-tenant-id
 * would mean the caller expects something this token does not do: refuse it rather than ignore it.
 */
export function platformScopeOf(metadata: Metadata): string {
  if (metadata.get('x-tenant-id').length > 0) {
    throw new InputError('x-tenant-id', 'must not be set with the platform token (platform webhooks belong to no tenant)');
  }
  return PLATFORM_SCOPE;
}

export function isValidTenantId(value: string): boolean {
  return TENANT_ID.test(value);
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
