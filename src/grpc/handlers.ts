/**
 * Wraps service methods: authenticates the caller, resolves the tenant of admin calls, and turns
 * whatever the method throws into a gRPC status (src/grpc/status.ts). Unexpected errors, and a
 * database that cannot serve, are logged with their stack; the client sees "internal error" or
 * UNAVAILABLE with no detail of the database.
 */
import type {
  handleBidiStreamingCall,
  handleUnaryCall,
  Metadata,
  sendUnaryData,
  ServerDuplexStream,
  ServerUnaryCall,
} from '@grpc/grpc-js';
import { StoppingError } from '../errors';
import { describeError } from '../telemetry/describe-error';
import type { Logger } from '../telemetry/logger';
import { Authenticator, platformScopeOf, tenantOf, type Role } from './auth';
import { refusalOf } from './message-limits';
import { statusCodeOf, toServiceError } from './status';
import { status } from '@grpc/grpc-js';

export interface CallContext {
  readonly role: Role;
  /**
   * The tenant of an admin call (x-tenant-id), PLATFORM_SCOPE for a platform call, empty for
   * ingest calls.
   */
  readonly tenantId: string;
}

export interface HandlerDeps {
  readonly auth: Authenticator;
  readonly logger: Logger;
}

export function unary<Req, Res>(
  deps: HandlerDeps,
  method: string,
  allowed: readonly Role[],
  fn: (req: Req, ctx: CallContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => {
        const ctx = contextOf(deps, call.metadata, allowed);
        const refused = refusalOf(call.request);
        if (refused) throw refused;
        return fn(call.request, ctx);
      })
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(reportError(deps.logger, method, err), null),
      );
  };
}

export function bidi<Req, Res>(
  deps: HandlerDeps,
  method: string,
  allowed: readonly Role[],
  fn: (call: ServerDuplexStream<Req, Res>, ctx: CallContext) => Promise<void>,
): handleBidiStreamingCall<Req, Res> {
  return (call: ServerDuplexStream<Req, Res>) => {
    Promise.resolve()
      .then(() => fn(call, contextOf(deps, call.metadata, allowed)))
      .then(
        () => call.end(),
        // grpc-js sends a duplex stream's error status when 'error' is emitted on it.
        (err: unknown) => call.emit('error', reportError(deps.logger, method, err)),
      );
  };
}

function contextOf(deps: HandlerDeps, metadata: Metadata, allowed: readonly Role[]): CallContext {
  const role = deps.auth.authorize(metadata, allowed);
  if (role === 'ingest') return { role, tenantId: '' };
  return { role, tenantId: role === 'platform' ? platformScopeOf(metadata) : tenantOf(metadata) };
}

function reportError(logger: Logger, method: string, err: unknown): ReturnType<typeof toServiceError> {
  const code = statusCodeOf(err);
  if ((code === status.INTERNAL || code === status.UNAVAILABLE) && !(err instanceof StoppingError)) {
    logger.error({ error: describeError(err), method }, 'request failed');
  }
  return toServiceError(err);
}
