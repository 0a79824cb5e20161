/**
 * `deliveries tail WEBHOOK_ID`: prints the newest deliveries, then polls ListDeliveries and
 * prints every new delivery and every change of status or attempt count, until stopped.
 *
 * Each poll reads the deliveries created since the oldest one still unfinished (or the newest
 * seen), so a pending delivery's retries keep showing while finished history is not read again.
 * A delivery that was already finished and is later sent again (retry-failed) is not followed.
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { DeliveryStatus, type Delivery } from '../grpc/generated/webhooks/v1/management';
import { onePositional, parseDuration, str, UsageError } from './args';
import type { Command, Context } from './command';
import { DELIVERY_HEADERS, deliveryJson, deliveryRow } from './delivery-format';

const PAGE_SIZE = 100;
/** At most this many deliveries are read per poll (20 pages); beyond that a burst is summarised. */
const MAX_PAGES = 20;
/** Fixed column widths, since rows come one at a time: a time, a msg_ULID, a type name, ... */
const WIDTHS = [20, 30, 32, 9, 8, 4];
const TRANSIENT = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export const tail: Command = {
  name: 'tail',
  usage: 'WEBHOOK_ID [--interval 1s] [--last 10]',
  summary: "follow a webhook's deliveries: each new one and each change, until Ctrl-C",
  options: { interval: { type: 'string' }, last: { type: 'string' } },
  async run(ctx) {
    const webhookId = onePositional(ctx.args, 'webhook id');
    const intervalMs = parseDuration(str(ctx.args, 'interval') ?? '1s', 'interval');
    const last = Number(str(ctx.args, 'last') ?? '10');
    if (!Number.isInteger(last) || last < 0 || last > PAGE_SIZE) throw new UsageError(`--last: 0 to ${PAGE_SIZE}`);
    const follower = new Follower(ctx, webhookId);
    if (!ctx.out.json) ctx.out.line(row(DELIVERY_HEADERS));
    await follower.start(last);
    const signal = ctx.io.signal;
    while (!signal?.aborted) {
      try {
        await delay(intervalMs, undefined, { signal });
      } catch {
        break; // aborted: a clean stop
      }
      await follower.poll();
    }
  },
};

class Follower {
  /** id → "status/attempts" as last printed. */
  private readonly printed = new Map<string, string>();
  private since: Date | undefined;
  private readonly client;

  constructor(
    private readonly ctx: Context,
    private readonly webhookId: string,
  ) {
    this.client = ctx.management();
  }

  async start(last: number): Promise<void> {
    const { deliveries } = await this.client.listDeliveries(this.request(undefined, Math.max(last, 1), ''));
    const shown = deliveries.slice(0, last).reverse();
    for (const d of shown) this.show(d);
    // Older deliveries than the newest one seen now are history, not followed.
    this.since = deliveries[0]?.createTime;
    this.advance(deliveries);
  }

  async poll(): Promise<void> {
    let deliveries: Delivery[];
    try {
      deliveries = await this.read();
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (!TRANSIENT.has(code)) throw err;
      this.ctx.io.stderr.write(`tail: ${(err as Error).message}; trying again\n`);
      return;
    }
    for (const d of [...deliveries].reverse()) {
      if (this.printed.get(d.id) !== key(d)) this.show(d);
    }
    this.advance(deliveries);
  }

  private async read(): Promise<Delivery[]> {
    const all: Delivery[] = [];
    let pageToken = '';
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.client.listDeliveries(this.request(this.since, PAGE_SIZE, pageToken));
      all.push(...res.deliveries);
      pageToken = res.nextPageToken;
      if (pageToken === '') return all;
    }
    this.ctx.io.stderr.write(`tail: over ${MAX_PAGES * PAGE_SIZE} deliveries changed since the last poll; showing the newest\n`);
    return all;
  }

  private request(since: Date | undefined, pageSize: number, pageToken: string) {
    const status = DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED;
    return { webhookId: this.webhookId, status, startTime: since, endTime: undefined, pageSize, pageToken };
  }

  private show(d: Delivery): void {
    this.printed.set(d.id, key(d));
    if (this.ctx.out.json) this.ctx.out.jsonLine(deliveryJson(d));
    else this.ctx.out.line(row(deliveryRow(d)));
  }

  /** Moves `since` up to the oldest unfinished delivery (newest first in `deliveries`). */
  private advance(deliveries: readonly Delivery[]): void {
    const unfinished = deliveries.filter((d) => !isFinal(d.status));
    const anchor = unfinished.length > 0 ? unfinished[unfinished.length - 1] : deliveries[0];
    if (anchor?.createTime !== undefined) this.since = anchor.createTime;
    const since = this.since?.getTime() ?? 0;
    for (const d of deliveries) if ((d.createTime?.getTime() ?? 0) < since) this.printed.delete(d.id);
  }
}

function isFinal(status: DeliveryStatus): boolean {
  return status === DeliveryStatus.DELIVERY_STATUS_SUCCEEDED || status === DeliveryStatus.DELIVERY_STATUS_FAILED;
}

function key(d: Delivery): string {
  return `${d.status}/${d.attemptCount}`;
}

function row(cells: readonly string[]): string {
  return cells
    .map((cell, i) => (i < WIDTHS.length ? cell.padEnd(WIDTHS[i]!) : cell))
    .join('  ')
    .trimEnd();
}
