/** `webhooks-sidecar stats WEBHOOK_ID`: a webhook's counters and recent success rate. */
import { WebhookStats } from '../grpc/generated/webhooks/v1/management';
import { onePositional, parseDuration, str } from './args';
import type { Command, Group } from './command';
import { fullJson, time } from './output';

const stats: Command = {
  name: 'stats',
  usage: 'WEBHOOK_ID [--window 24h]',
  summary: "a webhook's delivery counts, attempts, success rate over the window, failure streak",
  options: { window: { type: 'string' } },
  async run(ctx) {
    const webhookId = onePositional(ctx.args, 'webhook id');
    const windowMs = parseDuration(str(ctx.args, 'window') ?? '24h', 'window');
    const window = { seconds: Math.floor(windowMs / 1000), nanos: (windowMs % 1000) * 1e6 };
    const res = await ctx.management().getWebhookStats({ webhookId, window });
    const s = res.stats!;
    if (ctx.out.json) return ctx.out.value({ webhookId, window: `${windowMs / 1000}s`, stats: fullJson(s, WebhookStats.toJSON) });
    ctx.out.fields([
      ['webhook', webhookId],
      ['succeeded', String(s.deliveriesSucceeded)],
      ['failed', String(s.deliveriesFailed)],
      ['pending', String(s.deliveriesPending)],
      ['paused', String(s.deliveriesPaused)],
      ['attempts', String(s.attempts)],
      [`success rate (${str(ctx.args, 'window') ?? '24h'})`, `${(s.successRate * 100).toFixed(1)}%`],
      ['consecutive failures', String(s.consecutiveFailures)],
      ['failing since', time(s.failingSince)],
      ['last success', time(s.lastSuccessTime)],
      ['last failure', time(s.lastFailureTime)],
    ]);
  },
};

export const statsGroup: Group = { name: 'stats', summary: stats.summary, commands: [stats] };
