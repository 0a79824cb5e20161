/**
 * The template functions the chart uses, with the semantics of Go templates and Helm's sprig
 * (default treats false and 0 as empty, required refuses nil and "", toYaml sorts keys and
 * drops the last newline, indent pads every line, quote prints numbers Go's way).
 */
import { createHash } from 'node:crypto';
import YAML from 'yaml';
import { GoInt, goString, isDict, plain, truthy, type Dict } from './values';

export class RenderError extends Error {}

export type TemplateFunction = (...args: unknown[]) => unknown;

function num(v: unknown, fn: string): number {
  if (v instanceof GoInt) return v.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  if (v === null || v === undefined) return 0;
  throw new RenderError(`${fn}: cannot convert ${JSON.stringify(v)} to a number`);
}

function toInt(v: unknown): GoInt {
  return new GoInt(Math.trunc(num(v, 'int')));
}

function indent(n: unknown, text: unknown): string {
  const pad = ' '.repeat(num(n, 'indent'));
  return pad + goString(text).replace(/\n/g, `\n${pad}`);
}

/** Go's eq refuses to compare kinds that differ: a float64 from values with an int literal, say. */
function eq(a: unknown, ...bs: unknown[]): boolean {
  const kind = (v: unknown): string => (v instanceof GoInt ? 'int' : typeof v === 'number' ? 'float' : v === null || v === undefined ? 'nil' : typeof v);
  const norm = (v: unknown): unknown => (v instanceof GoInt ? v.value : (v ?? null));
  if (bs.some((b) => kind(a) !== kind(b) && kind(a) !== 'nil' && kind(b) !== 'nil')) {
    throw new RenderError(`eq: incompatible types for comparison: ${kind(a)} ${goString(a)} and ${bs.map((b) => `${kind(b)} ${goString(b)}`).join(', ')}`);
  }
  return bs.some((b) => norm(a) === norm(b));
}

function printf(format: unknown, ...args: unknown[]): string {
  let i = 0;
  return goString(format).replace(/%([sdvq%])/g, (_, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[i++];
    if (verb === 'q') return JSON.stringify(goString(arg));
    if (verb === 'd') return String(Math.trunc(num(arg, 'printf %d')));
    return goString(arg);
  });
}

export const FUNCTIONS: Record<string, TemplateFunction> = {
  // Go template built-ins
  and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
  or: (...args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
  not: (a) => !truthy(a),
  eq,
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => num(a, 'lt') < num(b, 'lt'),
  gt: (a, b) => num(a, 'gt') > num(b, 'gt'),
  le: (a, b) => num(a, 'le') <= num(b, 'le'),
  ge: (a, b) => num(a, 'ge') >= num(b, 'ge'),
  len: (v: unknown) => new GoInt(Array.isArray(v) || typeof v === 'string' ? v.length : isDict(v) ? Object.keys(v).length : 0),
  print: (...args) => args.map(goString).join(''),
  printf: (format, ...args) => printf(format, ...args),
  // sprig / Helm
  default: (fallback, ...rest) => (rest.length === 0 || !truthy(rest[0]) ? fallback : rest[0]),
  empty: (v) => !truthy(v),
  required: (message, v) => {
    if (v === null || v === undefined || v === '') throw new RenderError(goString(message));
    return v;
  },
  fail: (message) => {
    throw new RenderError(goString(message));
  },
  quote: (...args) => args.map((a) => JSON.stringify(goString(a))).join(' '),
  toString: (v: unknown) => goString(v),
  int: toInt,
  int64: toInt,
  trunc: (n, s) => goString(s).slice(0, num(n, 'trunc')),
  trimSuffix: (suffix, s) => (goString(s).endsWith(goString(suffix)) ? goString(s).slice(0, -goString(suffix).length || undefined) : goString(s)),
  trim: (s) => goString(s).trim(),
  lower: (s) => goString(s).toLowerCase(),
  replace: (old, repl, s) => goString(s).split(goString(old)).join(goString(repl)),
  contains: (sub, s) => goString(s).includes(goString(sub)),
  hasPrefix: (p, s) => goString(s).startsWith(goString(p)),
  splitList: (sep, s) => goString(s).split(goString(sep)),
  join: (sep, list) => (Array.isArray(list) ? list.map(goString).join(goString(sep)) : goString(list)),
  list: (...items) => items,
  dict: (...kv) => {
    const d: Dict = {};
    for (let i = 0; i < kv.length; i += 2) d[goString(kv[i])] = kv[i + 1];
    return d;
  },
  hasKey: (d, k) => isDict(d) && goString(k) in d && d[goString(k)] !== undefined,
  indent,
  nindent: (n, text) => `\n${indent(n, text)}`,
  toYaml: (v) => {
    if (v === null || v === undefined) return 'null';
    return YAML.stringify(plain(v), { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '');
  },
  fromYaml: (s) => (YAML.parse(goString(s)) as unknown) ?? {},
  toJson: (v) => JSON.stringify(plain(v) ?? null),
  b64enc: (s) => Buffer.from(goString(s), 'utf8').toString('base64'),
  sha256sum: (s) => createHash('sha256').update(goString(s), 'utf8').digest('hex'),
};
