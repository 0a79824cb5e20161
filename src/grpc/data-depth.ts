/**
 * Event data (google.protobuf.Struct) nested deeper than MAX_DATA_DEPTH objects and lists. The
 * generated decoders stop at 100 nested messages (about 33 JSON levels, as a JSON level is a
 * Struct, a map entry and a Value) by throwing, and grpc-js then answers the whole call INTERNAL
 * "Error deserializing request": unnamed, and for PublishEvents failing every event of the batch.
 * So, as for huge timestamps (./timestamps.ts), the generated Struct and ListValue decoders are
 * wrapped: a level past the limit is skipped unread, and the data it sat in is marked; the
 * handlers refuse marked data as INVALID_ARGUMENT naming the field, for that event alone.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { ListValue, Struct } from './generated/google/protobuf/struct';

/** The deepest data accepted: objects and lists, the data object itself being level 1. */
export const MAX_DATA_DEPTH = 32;

/** Struct and ListValue messages being decoded now, one inside the other (decoding is synchronous). */
let depth = 0;
/** Whether a level of the outermost Struct being decoded now was skipped. */
let cut = false;
const cutStructs = new WeakSet<object>();
const cutData = new WeakSet<object>();
let installed = false;

/** Whether this data (an unwrapped Struct) held levels past MAX_DATA_DEPTH, which were dropped. */
export function isNestedTooDeep(data: unknown): boolean {
  return data !== null && typeof data === 'object' && cutData.has(data);
}

/** Replaces the generated Struct.decode, ListValue.decode and Struct.unwrap (once, for every message that holds data). */
export function markDeepData(): void {
  if (installed) return;
  installed = true;
  const decodeStruct = Struct.decode;
  const unwrapStruct = Struct.unwrap;
  const decodeList = ListValue.decode;
  Struct.decode = (input, length) => guarded(input, length, () => decodeStruct.call(Struct, input, length), () => ({ fields: {} }));
  ListValue.decode = (input, length) => guarded(input, length, () => decodeList.call(ListValue, input, length), () => ({ values: [] }));
  Struct.unwrap = (message) => {
    const data = unwrapStruct.call(Struct, message);
    if (cutStructs.has(message)) cutData.add(data);
    return data;
  };
}

function guarded<T extends object>(
  input: BinaryReader | Uint8Array,
  length: number | undefined,
  decode: () => T,
  empty: () => T,
): T {
  if (depth >= MAX_DATA_DEPTH && input instanceof BinaryReader && length !== undefined) {
    // What the generated decoder would throw for a length past the end of the message.
    if (input.pos + length > input.len) throw new RangeError('premature EOF');
    input.pos += length;
    cut = true;
    return empty();
  }
  const outermost = depth === 0;
  depth += 1;
  try {
    const message = decode();
    if (outermost && cut) cutStructs.add(message);
    return message;
  } finally {
    depth -= 1;
    if (outermost) cut = false;
  }
}
