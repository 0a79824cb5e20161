/**
 * The domain's errors. Code below the edge throws these; src/grpc/status.ts is the one place that
 * turns them into gRPC status codes. Anything else that escapes a handler is logged and answered
 * without details, so internals never reach a client: UNAVAILABLE when the database cannot serve
 * (src/db/errors.ts), INTERNAL otherwise.
 */
export abstract class AppError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type ErrorKind =
  | 'input'
  | 'not_found'
  | 'conflict'
  | 'unauthenticated'
  | 'permission'
  | 'exhausted'
  | 'unavailable'
  | 'unimplemented'
  | 'precondition';

/** Bad input from a caller. The message starts with the field it concerns. */
export class InputError extends AppError {
  readonly kind = 'input';
  constructor(
    readonly field: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${problem}`, options);
  }
}

export class NotFoundError extends AppError {
  readonly kind = 'not_found';
}

export class ConflictError extends AppError {
  readonly kind = 'conflict';
}

export class UnauthenticatedError extends AppError {
  readonly kind = 'unauthenticated';
}

export class PermissionError extends AppError {
  readonly kind = 'permission';
}

/** A limit was reached (too many webhooks, ...). */
export class ExhaustedError extends AppError {
  readonly kind = 'exhausted';
}

/** A dependency (the database) failed; the caller may try again. */
export class UnavailableError extends AppError {
  readonly kind = 'unavailable';
}

/** The process is stopping: the caller goes to another replica. Expected, so not logged. */
export class StoppingError extends UnavailableError {}

/** An RPC whose messages are designed but whose behaviour comes in a later release. */
export class UnimplementedError extends AppError {
  readonly kind = 'unimplemented';
}

/** The call is valid but the resource is not in a state that allows it (a disabled webhook...). */
export class PreconditionError extends AppError {
  readonly kind = 'precondition';
}
