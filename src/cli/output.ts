/**
 * What the CLI prints: aligned columns (like kubectl) or key/value blocks for people, JSON with
 * --json for scripts. Times are RFC 3339 in UTC, to the second; empty values are "-".
 */
import { DeliveryStatus } from '../grpc/generated/webhooks/v1/management';

export interface Writer {
  write(text: string): unknown;
}

export class Output {
  constructor(
    private readonly stream: Writer,
    readonly json: boolean,
  ) {}

  line(text = ''): void {
    this.stream.write(`${text}\n`);
  }

  /** Pretty JSON for one answer. */
  value(value: unknown): void {
    this.line(JSON.stringify(value, null, 2));
  }

  /** One JSON object per line, for streams (tail). */
  jsonLine(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  table(headers: readonly string[], rows: readonly (readonly string[])[], empty: string): void {
    if (rows.length === 0) return this.line(empty);
    this.stream.write(formatTable(headers, rows));
  }

  fields(pairs: ReadonlyArray<readonly [string, string]>): void {
    const width = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${`${k}:`.padEnd(width + 2)}${v}`);
  }
}

/** Columns two spaces apart, the last one unpadded; cell text is kept on one line. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows].map((row) => row.map(oneLine));
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd() + '\n')
    .join('');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

export function time(date: Date | undefined): string {
  return date === undefined ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function text(value: string | undefined): string {
  return value === undefined || value === '' ? '-' : value;
}

export function statusName(status: DeliveryStatus): string {
  const name = DeliveryStatus[status] ?? String(status);
  return name.replace(/^DELIVERY_STATUS_/, '').toLowerCase();
}

/** "pending" → DELIVERY_STATUS_PENDING; undefined for an unknown name. */
export function statusOf(name: string): DeliveryStatus | undefined {
  const key = `DELIVERY_STATUS_${name.trim().toUpperCase()}` as keyof typeof DeliveryStatus;
  const value = DeliveryStatus[key];
  return typeof value === 'number' && value !== DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED ? value : undefined;
}

/**
 * A message as JSON with every field: ts-proto's toJSON (proto3 JSON: enum names, RFC 3339
 * times) leaves out fields at their default, and a script reading `attempts` should find a 0.
 */
export function fullJson<T extends object>(message: T, toJSON: (m: T) => unknown): Record<string, unknown> {
  const json = toJSON(message) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) out[k] = k in json ? json[k] : (v ?? null);
  return out;
}
