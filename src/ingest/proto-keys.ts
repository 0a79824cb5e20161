/**
 * A key named "__proto__" in event data (google.protobuf.Struct). The generated decoder stores
 * each key with `fields[key] = value`, and for "__proto__" that assignment sets the object's
 * prototype instead of adding a key (a string or number value is ignored outright); unwrapping
 * then copies only own keys. So `{"user_id": "u", "__proto__": {...}}` decoded as
 * `{"user_id": "u"}`, was accepted, and receivers got data the caller never sent.
 *
 * Here the decoder keeps such a key as an own property, so that the ingest (and SendTestEvent)
 * can refuse it, naming its path: a receiver written in JavaScript that merges the data into
 * an object would otherwise be handed the classic prototype-pollution key. The generated code is
 * not edited (STYLE.md 8); its Struct.decode and Struct.unwrap are replaced at start-up, as
 * src/grpc/timestamps.ts does for Timestamp.decode.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Struct, Struct_FieldsEntry } from '../grpc/generated/google/protobuf/struct';
import { appendKey } from './catalog/catalog';

const PROTO = '__proto__';
/** What every "__proto__" key leaves in JSON (`"__proto__":`), minus its common first characters. */
const HINT = 'proto__":';
/** The generated decoders' nesting limit, kept so that deep data still fails the same way. */
const MAX_DEPTH = 100;

let installed = false;

/** Replaces the generated Struct.decode and Struct.unwrap (once; every Struct, nested ones too). */
export function keepProtoKeysInStructs(): void {
  if (installed) return;
  installed = true;
  Struct.decode = decodeStruct;
  Struct.unwrap = unwrapStruct;
}

/** The generated Struct.decode (fields = 1), with a "__proto__" key kept as an own property. */
function decodeStruct(input: BinaryReader | Uint8Array, length?: number): Struct {
  const reader = input instanceof BinaryReader ? input : new BinaryReader(input);
  const depthHolder = reader as unknown as { __tsProtoDecodeDepth?: number };
  const previousDepth = depthHolder.__tsProtoDecodeDepth ?? 0;
  if (previousDepth >= MAX_DEPTH) throw new Error('protobuf decode recursion limit exceeded');
  depthHolder.__tsProtoDecodeDepth = previousDepth + 1;
  try {
    const end = length === undefined ? reader.len : reader.pos + length;
    const message: Struct = { fields: {} };
    while (reader.pos < end) {
      const tag = reader.uint32();
      if (tag === 10) {
        const entry = Struct_FieldsEntry.decode(reader, reader.uint32());
        if (entry.value !== undefined) setOwn(message.fields, entry.key, entry.value);
      } else if ((tag & 7) === 4 || tag === 0) {
        break;
      } else {
        reader.skip(tag & 7);
      }
    }
    return message;
  } finally {
    depthHolder.__tsProtoDecodeDepth = previousDepth;
  }
}

function unwrapStruct(message: Struct): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const key of Object.keys(message.fields)) setOwn(object, key, message.fields[key]);
  return object;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === PROTO) Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
  else target[key] = value;
}

/**
 * The path of the first "__proto__" key in `data` (e.g. "event.data.profile.__proto__"), or
 * undefined. `json` is the data as JSON.stringify wrote it, which the caller has anyway: every
 * such key shows in it as `"__proto__":`, so only data whose JSON holds that text (almost never)
 * is walked. The search starts at the "p": JSON is full of quotes and snake_case keys full of
 * underscores, which slow a search whose first character is one of those. Measured on 1 KB
 * events: ~0.1 µs for `proto__":` (~0.8 µs for `"__proto__":` on snake_case keys, ~1.5 µs for
 * walking every key), against ~3 µs for the JSON.stringify the event costs anyway.
 */
export function protoKeyPath(data: unknown, json: string, field: string): string | undefined {
  return json.includes(HINT) ? findProtoKey(data, field) : undefined;
}

function findProtoKey(node: unknown, field: string): string | undefined {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const found = findProtoKey(node[i], `${field}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (typeof node === 'object' && node !== null) {
    for (const key of Object.keys(node)) {
      if (key === PROTO) return appendKey(field, key);
      const found = findProtoKey((node as Record<string, unknown>)[key], appendKey(field, key));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
