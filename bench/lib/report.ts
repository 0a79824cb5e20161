import type { EventBodies } from '../../src/config/config';

/** One line of the results table: a figure and, where there is one, its same-run baseline. */
export interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  readonly note?: string;
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly mysqlUrl: string;
  /** Pending deliveries in the backlog scenario. */
  readonly backlog: number;
  /** WEBHOOKS_EVENT_BODIES for the sidecars, and where the backlog's bodies are written. */
  readonly eventBodies: EventBodies;
  /**
   * Events per second in the delivery scenario's event-to-receipt phase; unset, half the drain's
   * rate over its three webhooks. A fixed rate compares builds at the same load (--delivery-rate).
   */
  readonly deliveryRate?: number;
  readonly log: (line: string) => void;
}

export function ratio(row: Row): number | undefined {
  return row.baseline && row.baseline.value > 0 ? row.value / row.baseline.value : undefined;
}

export function table(rows: readonly Row[]): string {
  const lines = [
    '| scenario | metric | value | baseline (same run) | ratio |',
    '|---|---|---|---|---|',
    ...rows.map((r) => {
      const base = r.baseline ? `${fmt(r.baseline.value)} (${r.baseline.name})` : '';
      const q = ratio(r);
      const note = r.note ? ` — ${r.note}` : '';
      return `| ${r.scenario} | ${r.metric} | ${fmt(r.value)} ${r.unit}${note} | ${base} | ${q === undefined ? '' : `${(q * 100).toFixed(0)}%`} |`;
    }),
  ];
  return lines.join('\n');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}
