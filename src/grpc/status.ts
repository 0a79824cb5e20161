/**
 * The one module that chooses gRPC status codes. Domain errors carry their kind; a database that
 * cannot serve right now (src/db/errors.ts) is UNAVAILABLE, so clients retry; anything else is an
 * internal error. The details of both are logged, never sent.
 */
import { status, type StatusObject, type ServiceError, Metadata } from '@grpc/grpc-js';
import { isDatabaseUnavailable } from '../db/errors';
import { AppError, type ErrorKind } from '../errors';

const CODES: Record<ErrorKind, status> = {
  input: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  conflict: status.ALREADY_EXISTS,
  unauthenticated: status.UNAUTHENTICATED,
  permission: status.PERMISSION_DENIED,
  exhausted: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  unimplemented: status.UNIMPLEMENTED,
  precondition: status.FAILED_PRECONDITION,
};

export function statusCodeOf(err: unknown): status {
  if (err instanceof AppError) return CODES[err.kind];
  return isDatabaseUnavailable(err) ? status.UNAVAILABLE : status.INTERNAL;
}

/** What a client may see of an error. */
export function publicMessageOf(err: unknown): string {
  if (err instanceof AppError) return err.message;
  return isDatabaseUnavailable(err) ? 'the database is unavailable; try again' : 'internal error';
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  return { code: statusCodeOf(err), details: publicMessageOf(err), metadata: new Metadata() };
}

/** The same, as the status an interceptor sends (src/grpc/token-interceptor.ts). */
export function statusObjectOf(err: unknown): StatusObject {
  return { code: statusCodeOf(err), details: publicMessageOf(err), metadata: new Metadata() };
}
