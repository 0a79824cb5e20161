/**
 * google.protobuf.Timestamp seconds beyond what a JS number holds exactly (2^53; a client may
 * send up to 2^63) make the generated decoder throw, and grpc-js then answers the whole call
 * INTERNAL "Error deserializing request" before any handler runs: without naming the field, and
 * for a unary call before the token is even checked. Such seconds are far outside any Date
 * (±8.64e12 s), so here they decode as ±Infinity instead (not NaN: the generated fromTimestamp
 * reads a falsy NaN as 0, the epoch): the field becomes an Invalid Date, which the
 * handlers refuse as INVALID_ARGUMENT naming it (event.occurred_at, events[3].occurred_at,
 * start_time), and a PublishEvents batch fails only that event, as for any other bad field.
 * google.protobuf.Duration (GetWebhookStats' window) has the same wire shape and the same
 * decoder, so it is read the same way; its infinite window fails the window's range check.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Duration } from './generated/google/protobuf/duration';
import { Timestamp } from './generated/google/protobuf/timestamp';

let installed = false;

/** Replaces the generated Timestamp.decode and Duration.decode (once, for every message that holds one). */
export function decodeHugeTimestampsAsInvalid(): void {
  if (installed) return;
  installed = true;
  Timestamp.decode = decodeTimestamp;
  Duration.decode = decodeTimestamp;
}

/** The generated decoders' wire handling (both messages are seconds = 1, nanos = 2), with seconds read as ±Infinity where they would throw. */
function decodeTimestamp(input: BinaryReader | Uint8Array, length?: number): Timestamp & Duration {
  const reader = input instanceof BinaryReader ? input : new BinaryReader(input);
  const end = length === undefined ? reader.len : reader.pos + length;
  const message: Timestamp & Duration = { seconds: 0, nanos: 0 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 8) {
      message.seconds = secondsOf(reader.int64());
    } else if (tag === 16) {
      message.nanos = reader.int32();
    } else if ((tag & 7) === 4 || tag === 0) {
      break;
    } else {
      reader.skip(tag & 7);
    }
  }
  return message;
}

function secondsOf(int64: bigint | string): number {
  const seconds = Number(int64);
  if (Number.isSafeInteger(seconds)) return seconds;
  return seconds > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}
