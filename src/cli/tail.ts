/**
 * `deliveries tail WEBHOOK_ID`: prints the newest deliveries, then polls ListDeliveries and
 * prints every new delivery and every change of status or attempt count, until stopped.
 *
 * Each poll reads the deliveries created since the oldest one still unfinished (or the newest
 * seen), so a pending delivery's retries keep showing while finished history is not read again.
 * A delivery that was already finished and is later sent again (retry-failed) is not followed.
 *
 * A delivery's created_at is taken before its transaction commits, and replicas' clocks differ:
 * a row can become visible after a newer one was shown (a slow group commit, a lock wait,
 * another replica). Reading only from the newest seen missed it for good, so each poll also
 * reads LATE_MS further back, and ids already printed are not printed again.
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
/**
 * How far before the anchor each poll reads again, for rows committed late. An ingest commit
 * takes milliseconds; a lock wait can stretch it (MariaDB's default bound is 50 s), but each
 * poll reads the whole window again, so 60 s would read 2,000 rows a poll, the cap, from about
 * 33 deliveries/s per webhook on. 10 s moves that to 200/s and still covers long lock waits.
 */
const LATE_MS = 10_000;
/** Ids remembered at most; beyond it the oldest remembered are forgotten (and could print twice). */
const MAX_SEEN = 20_000;

/** What was printed of a delivery ("status/attempts"), or null for history that is not followed. */
interface Seen {
  readonly key: string | null;
  readonly created: number;
}

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
  private readonly seen = new Map<string, Seen>();
  /** Creation time (ms) of the oldest unfinished delivery followed, or of the newest seen. */
  private since: number | undefined;
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
    // Older deliveries than the newest one seen now are history, not followed: what the first
    // polls' trailing window reads of them is not new.
    this.since = timeOf(deliveries[0]);
    if (this.since !== undefined) {
      for (const d of await this.read()) if (!this.seen.has(d.id)) this.remember(d, null);
    }
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
      const seen = this.seen.get(d.id);
      if (seen === undefined || (seen.key !== null && seen.key !== key(d))) this.show(d);
    }
    this.advance(deliveries);
  }

  /** Newest first: every delivery created since LATE_MS before the anchor. */
  private async read(): Promise<Delivery[]> {
    const from = this.since === undefined ? undefined : new Date(this.since - LATE_MS);
    const all: Delivery[] = [];
    let pageToken = '';
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.client.listDeliveries(this.request(from, PAGE_SIZE, pageToken));
      all.push(...res.deliveries);
      pageToken = res.nextPageToken;
      if (pageToken === '') return all;
    }
    this.ctx.io.stderr.write(`tail: over ${MAX_PAGES * PAGE_SIZE} deliveries created in the window read again; showing the newest\n`);
    return all;
  }

  private request(since: Date | undefined, pageSize: number, pageToken: string) {
    const status = DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED;
    return { webhookId: this.webhookId, status, startTime: since, endTime: undefined, pageSize, pageToken };
  }

  private show(d: Delivery): void {
    this.remember(d, key(d));
    if (this.ctx.out.json) this.ctx.out.jsonLine(deliveryJson(d));
    else this.ctx.out.line(row(deliveryRow(d)));
  }

  private remember(d: Delivery, printed: string | null): void {
    this.seen.delete(d.id); // re-inserted last: the map's order is the order to forget in
    this.seen.set(d.id, { key: printed, created: timeOf(d) ?? 0 });
    for (const id of this.seen.keys()) {
      if (this.seen.size <= MAX_SEEN) break;
      this.seen.delete(id);
    }
  }

  /**
   * Moves `since` to the oldest unfinished delivery followed (newest first in `deliveries`), and
   * forgets ids that the next read, LATE_MS before it, no longer returns.
   */
  private advance(deliveries: readonly Delivery[]): void {
    const unfinished = deliveries.filter((d) => !isFinal(d.status) && this.seen.get(d.id)?.key != null);
    const anchor = timeOf(unfinished.length > 0 ? unfinished[unfinished.length - 1] : deliveries[0]);
    if (anchor !== undefined) this.since = anchor;
    const from = (this.since ?? 0) - LATE_MS;
    for (const [id, seen] of this.seen) if (seen.created < from) this.seen.delete(id);
  }
}

function timeOf(d: Delivery | undefined): number | undefined {
  return d?.createTime?.getTime();
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
