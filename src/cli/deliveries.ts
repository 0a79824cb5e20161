/** `webhooks-sidecar deliveries ...`: list, get (with attempts), tail, retry, retry-failed. */
import { Delivery, DeliveryAttempt } from '../grpc/generated/webhooks/v1/management';
import { onePositional, noPositionals, parseSince, positiveInt, str } from './args';
import type { Command, Group } from './command';
import { DELIVERY_HEADERS, deliveryFields, deliveryJson, deliveryRow, statusFlag } from './delivery-format';
import { fullJson, statusName, text, time } from './output';
import { tail } from './tail';

const MAX_PAGE_SIZE = 100;

const listCommand: Command = {
  name: 'list',
  usage: '[--webhook ID] [--status pending|succeeded|failed|paused] [--since 24h|TIME] [--limit N]',
  summary: 'deliveries, newest first (20 unless --limit)',
  options: { webhook: { type: 'string' }, status: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } },
  async run(ctx) {
    noPositionals(ctx.args);
    const limit = positiveInt(str(ctx.args, 'limit'), 'limit', 20);
    const since = str(ctx.args, 'since');
    const client = ctx.management();
    const deliveries: Delivery[] = [];
    let pageToken = '';
    do {
      const page = await client.listDeliveries({
        webhookId: str(ctx.args, 'webhook') ?? '',
        status: statusFlag(ctx),
        startTime: since === undefined ? undefined : parseSince(since, 'since'),
        endTime: undefined,
        pageSize: Math.min(MAX_PAGE_SIZE, limit - deliveries.length),
        pageToken,
      });
      deliveries.push(...page.deliveries);
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && deliveries.length < limit);
    if (ctx.out.json) return ctx.out.value({ deliveries: deliveries.map(deliveryJson) });
    ctx.out.table(DELIVERY_HEADERS, deliveries.map(deliveryRow), 'No deliveries.');
  },
};

const get: Command = {
  name: 'get',
  usage: 'DELIVERY_ID',
  summary: 'one delivery with every attempt',
  async run(ctx) {
    const { delivery, attempts } = await ctx.management().getDelivery({ id: onePositional(ctx.args, 'delivery id') });
    if (ctx.out.json) return ctx.out.value({ delivery: deliveryJson(delivery!), attempts: attempts.map((a) => fullJson(a, DeliveryAttempt.toJSON)) });
    ctx.out.fields(deliveryFields(delivery!));
    ctx.out.line();
    ctx.out.table(
      ['#', 'STARTED', 'MS', 'CODE', 'ERROR', 'RESPONSE'],
      attempts.map((a) => [
        String(a.attemptNumber),
        time(a.startTime),
        String(a.durationMs),
        a.statusCode === 0 ? '-' : String(a.statusCode),
        a.errorClass === '' ? '-' : `${a.errorClass}: ${a.errorMessage}`,
        text(a.responseBody.slice(0, 80)),
      ]),
      'No attempts yet.',
    );
  },
};

const retry: Command = {
  name: 'retry',
  usage: 'DELIVERY_ID',
  summary: 'send one delivery again now (same webhook-id, a new attempt)',
  async run(ctx) {
    const { delivery } = await ctx.management().retryDelivery({ id: onePositional(ctx.args, 'delivery id') });
    if (ctx.out.json) return ctx.out.value({ delivery: deliveryJson(delivery!) });
    ctx.out.line(`Delivery ${delivery!.id} is ${statusName(delivery!.status)}, due now.`);
  },
};

const retryFailed: Command = {
  name: 'retry-failed',
  usage: 'WEBHOOK_ID [--since 24h|TIME]',
  summary: 'send again every failed delivery of a webhook created since then (default 24h ago)',
  options: { since: { type: 'string' } },
  async run(ctx) {
    const webhookId = onePositional(ctx.args, 'webhook id');
    const since = parseSince(str(ctx.args, 'since') ?? '24h', 'since');
    const { deliveryCount } = await ctx.management().retryFailedDeliveries({ webhookId, since });
    if (ctx.out.json) return ctx.out.value({ deliveryCount, since: since.toISOString() });
    ctx.out.line(`${deliveryCount} failed ${deliveryCount === 1 ? 'delivery' : 'deliveries'} since ${time(since)} sent again.`);
  },
};

export const deliveriesGroup: Group = {
  name: 'deliveries',
  aliases: ['delivery'],
  summary: 'inspect, follow and resend deliveries',
  commands: [listCommand, get, tail, retry, retryFailed],
};
