/**
 * The one module that chooses gRPC status codes. Domain errors carry their kind; anything else
 * is an internal error whose details are logged, never sent.
 */
import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
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
  return err instanceof AppError ? CODES[err.kind] : status.INTERNAL;
}

/** What a client may see of an error. */
export function publicMessageOf(err: unknown): string {
  return err instanceof AppError ? err.message : 'internal error';
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  return { code: statusCodeOf(err), details: publicMessageOf(err), metadata: new Metadata() };
}
