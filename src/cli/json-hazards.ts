/**
 * What JSON.parse changes without a word, found in the JSON text the operator wrote:
 *
 * - an integer literal beyond ±(2^53 - 1): JSON.parse rounds it to the nearest double
 *   (9007199254740993 becomes 9007199254740992), and event data travels as doubles anyway
 *   (google.protobuf.Struct), so a large id must be a string;
 * - a key named "__proto__": JSON.parse keeps it, but the protobuf encoder then assigns it as the
 *   object's prototype and it is not sent at all (the server refuses it too).
 *
 * Node 20's JSON.parse has no reviver `context.source`, so the text is scanned here. The scan
 * runs only on text JSON.parse has accepted, so it tracks just enough to know each value's path.
 */

/** A place in a JSON document: object keys and array indexes, outermost first. */
export type JsonPath = ReadonlyArray<string | number>;

export interface JsonHazard {
  readonly path: JsonPath;
  readonly message: string;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/** The first hazard in `text` (which must be valid JSON), or undefined. */
export function findJsonHazard(text: string): JsonHazard | undefined {
  const path: Array<string | number> = [];
  const inObject: boolean[] = [];
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      if (expectKey) {
        path[path.length - 1] = JSON.parse(text.slice(i, end)) as string;
        if (path[path.length - 1] === '__proto__') return { path: [...path], message: 'a key named "__proto__" is not accepted' };
      }
      i = end;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const [literal, fraction, exponent] = NUMBER.exec(text)!;
      if (fraction === undefined && exponent === undefined && !isSafe(literal)) {
        return { path: [...path], message: `${literal} is beyond ±(2^53-1), the integers a JSON number carries exactly; send it as a string` };
      }
      i += literal.length;
      continue;
    }
    if (c === '{' || c === '[') {
      inObject.push(c === '{');
      path.push(c === '{' ? '' : 0);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      inObject.pop();
      path.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = inObject[inObject.length - 1] === true;
      if (!expectKey) path[path.length - 1] = (path[path.length - 1] as number) + 1;
    } else if (c === ':') {
      expectKey = false;
    }
    i++;
  }
  return undefined;
}

/** Just past the closing quote of the string that starts at `start`. */
function stringEnd(text: string, start: number): number {
  let j = start + 1;
  while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j + 1;
}

function isSafe(integer: string): boolean {
  // Up to 15 digits is always safe; only longer literals need the exact comparison.
  if (integer.length <= 15) return true;
  const value = BigInt(integer);
  return value <= MAX_SAFE && value >= -MAX_SAFE;
}

/** `data.user_id`, `tags[0]`, `data["a b"]`: a path as the server names fields. */
export function pathText(path: JsonPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}
