/**
 * Go's view of Helm values, where the renderer must match it to catch real chart bugs: values
 * from YAML are float64 in Helm (so 86400000 prints as "8.64e+07" unless the chart converts it
 * with int64), template integer literals and int/int64 results are integers (GoInt here), and
 * emptiness/truthiness follow Go's rules (false, 0, "", nil, empty lists and maps).
 */
export class GoInt {
  constructor(readonly value: number) {}
}

export type Dict = Record<string, unknown>;

export function isDict(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof GoInt);
}

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0) return false;
  if (v instanceof GoInt) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

/** fmt.Sprint's %v: what {{ value }}, print, quote and toString show. */
export function goString(v: unknown): string {
  if (v === null || v === undefined) return ''; // Go prints "<no value>"; Helm blanks it
  if (v instanceof GoInt) return String(v.value);
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isDict(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  return String(v);
}

/** strconv.FormatFloat(f, 'g', -1, 64): shortest digits, exponent form from 1e+06 (or below 1e-4). */
export function goFloat(f: number): string {
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : f < 0 ? '-Inf' : 'NaN';
  if (f === 0) return '0';
  const [mantissa, expText] = f.toExponential().split('e');
  const exp = Number(expText);
  // 'g' with the shortest precision decides on exponent form as if the precision were 6.
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(f);
}

/** Values as plain JSON-able data (GoInt unwrapped), for toYaml and toJson. */
export function plain(v: unknown): unknown {
  if (v instanceof GoInt) return v.value;
  if (Array.isArray(v)) return v.map(plain);
  if (isDict(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Helm's coalescing of user values over the chart's: maps merge deeply, anything else replaces. */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isDict(base) || !isDict(over)) return over === undefined ? base : over;
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === null ? undefined : mergeValues(base[k], v);
  return out;
}
