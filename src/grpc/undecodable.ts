/**
 * Undecodable messages on request streams. grpc-js answers a message it cannot decode with
 * INTERNAL by itself, but on a stream that status races the handler's own writes: when an
 * acknowledgement is written after grpc-js has begun ending the stream, the trailers are lost and
 * the client waits until its deadline (found by the fuzz tests: a valid event, then a malformed
 * message). So streams decode leniently: an undecodable message arrives as UNDECODABLE, and the
 * handler ends the stream in order, after acknowledging what came before it.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

export const UNDECODABLE: unknown = Object.freeze({ undecodable: true });

export function isUndecodable(message: unknown): boolean {
  return message === UNDECODABLE;
}

/** Each message decoded from a request stream, with its size on the wire. */
const wireSizes = new WeakMap<object, number>();

/** The size on the wire of a message read from a request stream (0 when unknown). */
export function wireBytesOf(message: unknown): number {
  return message !== null && typeof message === 'object' ? (wireSizes.get(message) ?? 0) : 0;
}

/**
 * The service with each client-streaming method's decoder answering UNDECODABLE instead of
 * throwing, and noting each message's size (wireBytesOf).
 */
export function lenientStreams<S extends ServiceDefinition>(service: S): S {
  const lenient: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = method.requestDeserialize;
    lenient[name] = !method.requestStream
      ? method
      : {
          ...method,
          requestDeserialize: (bytes: Buffer): unknown => {
            let message: unknown;
            try {
              message = decode(bytes);
            } catch {
              return UNDECODABLE;
            }
            if (message !== null && typeof message === 'object') wireSizes.set(message, bytes.length);
            return message;
          },
        };
  }
  return lenient as S;
}
