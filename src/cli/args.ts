/**
 * Flags for the operator CLI: node:util parseArgs per command, on top of the connection and
 * output flags every command takes. A wrong flag is a UsageError (exit code 2), not a stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface ParsedArgs {
  readonly values: Values;
  readonly positionals: readonly string[];
}

/** Every command takes these (see connectionOf in connection.ts). */
export const COMMON_OPTIONS: OptionSpec = {
  addr: { type: 'string' },
  tenant: { type: 'string' },
  token: { type: 'string' },
  platform: { type: 'boolean' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_USAGE = `Connection (flags win over the environment):
  --addr HOST:PORT     the sidecar's gRPC address (WEBHOOKS_ADDR, default localhost:50051)
  --tenant ID          the tenant admin calls act for (WEBHOOKS_TENANT)
  --token TOKEN        bearer token (default WEBHOOKS_ADMIN_TOKEN, WEBHOOKS_INGEST_TOKEN for
                       events publish, WEBHOOKS_PLATFORM_TOKEN with --platform)
  --platform           act as the platform operator (platform webhooks; no tenant)
  --tls                use TLS (system roots unless --ca); --cert/--key add a client certificate
  --ca FILE  --cert FILE  --key FILE  --server-name NAME
  --timeout DURATION   deadline of each call (default 10s)
Output:
  --json               JSON instead of tables`;

export function parse(argv: readonly string[], options: OptionSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/**
 * A repeatable flag; each occurrence may also hold a comma-separated list. An occurrence with no
 * item in it (`--org "$ORG"` with ORG unset) is a usage error: dropped silently, it left an empty
 * list, and for `webhooks update --org` an empty list means every organization, so a webhook
 * meant for one organization was widened to all of them with exit code 0. `hint` says how to
 * ask for what an empty list means, where a command has a flag for it.
 */
export function list(args: ParsedArgs, name: string, hint = ''): string[] | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const occurrences = (Array.isArray(v) ? v : [String(v)]).map((s) =>
    s
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );
  if (occurrences.some((items) => items.length === 0)) {
    throw new UsageError(`--${name}: given without a value${hint === '' ? '' : `; ${hint}`}`);
  }
  return occurrences.flat();
}

/** The one positional a command like `webhooks get ID` needs. */
export function onePositional(args: ParsedArgs, what: string): string {
  if (args.positionals.length !== 1) {
    throw new UsageError(`expected exactly one ${what}, got ${args.positionals.length === 0 ? 'none' : args.positionals.join(' ')}`);
  }
  return args.positionals[0]!;
}

export function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument: ${args.positionals[0]}`);
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "15m", "24h", "7d", or plain milliseconds. */
export function parseDuration(value: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${name}: expected a duration such as 30s, 15m, 24h or 7d, got "${value}"`);
  return Math.round(Number(m[1]) * UNITS_MS[m[2] ?? 'ms']!);
}

/** An RFC 3339 time, or a duration meaning that long ago ("24h"). */
export function parseSince(value: string, name: string, now = Date.now()): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = new Date(value);
    if (Number.isNaN(t.getTime())) throw new UsageError(`--${name}: not a valid time: "${value}"`);
    return t;
  }
  return new Date(now - parseDuration(value, name));
}

export function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${name}: expected a positive whole number, got "${value}"`);
  return Number(value);
}
