/**
 * Management requests hold ids, a URL, a few dozen event types: nothing near the 8 MiB that
 * grpc-js accepts for event batches. The generated decoders spend up to a microsecond a byte on
 * a message of many small fields, so an oversized management request is refused from its length,
 * before it is decoded: an authenticated caller cannot make one call hold the event loop for
 * seconds. The handler answers the refusal after its own checks (src/grpc/handlers.ts), so the
 * code goes through the one mapping of errors to statuses.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ExhaustedError, type AppError } from '../errors';

/** The largest management request, on the wire. */
export const MAX_MANAGEMENT_MESSAGE_BYTES = 256 * 1024;

/**
 * A google.protobuf.Struct can be up to ~5.5 times its JSON on the wire (a list of one-digit
 * numbers: 2 JSON bytes, 11 wire bytes each), so SendTestEvent's data, checked against
 * WEBHOOKS_MAX_EVENT_BYTES as JSON, may need more than the general limit.
 */
export function maxSendTestEventBytes(maxEventBytes: number): number {
  return Math.max(MAX_MANAGEMENT_MESSAGE_BYTES, 6 * maxEventBytes);
}

const refusals = new WeakMap<object, AppError>();

/** Why the request was refused before decoding, if it was. */
export function refusalOf(request: unknown): AppError | undefined {
  return request !== null && typeof request === 'object' ? refusals.get(request) : undefined;
}

/** The service with each method's decoder refusing messages over `limitOf(method name)` bytes. */
export function limitRequestBytes<S extends ServiceDefinition>(service: S, limitOf: (method: string) => number): S {
  const limited: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = method.requestDeserialize;
    const limit = limitOf(name);
    limited[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        if (bytes.length <= limit) return decode(bytes);
        const refused = {};
        refusals.set(
          refused,
          new ExhaustedError(`the request is ${bytes.length} bytes, over the limit of ${limit} for ${method.path}`),
        );
        return refused;
      },
    };
  }
  return limited as S;
}
