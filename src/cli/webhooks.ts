/** `webhooks-sidecar webhooks ...`: create, list, get, update, delete, rotate-secret, test. */
import { Webhook } from '../grpc/generated/webhooks/v1/management';
import { flag, list, noPositionals, onePositional, str, UsageError } from './args';
import type { Command, Context, Group } from './command';
import { deliveryFields, deliveryJson } from './delivery-format';
import { parseJsonObject } from './json-input';
import { fullJson, text, time } from './output';

const LIST_PAGE_SIZE = 100;

function showWebhook(ctx: Context, webhook: Webhook | undefined, extra: Array<[string, string]> = []): void {
  if (!webhook) throw new Error('the server answered without a webhook');
  ctx.out.fields([
    ['id', webhook.id],
    ['url', webhook.url],
    ['event types', webhook.eventTypes.join(', ')],
    ['organizations', webhook.organizationIds.length === 0 ? '(all)' : webhook.organizationIds.join(', ')],
    ['description', text(webhook.description)],
    ['enabled', webhook.enabled ? 'yes' : `no${webhook.disabledReason === '' ? '' : ` (${webhook.disabledReason})`}`],
    ['created', time(webhook.createTime)],
    ['updated', time(webhook.updateTime)],
    ...extra,
  ]);
}

const create: Command = {
  name: 'create',
  usage: '--url URL --event-type TYPE... [--description TEXT] [--org ID...]',
  summary: 'register a webhook; prints its signing secret (shown only this once)',
  options: {
    url: { type: 'string' },
    'event-type': { type: 'string', multiple: true },
    description: { type: 'string' },
    org: { type: 'string', multiple: true },
  },
  async run(ctx) {
    noPositionals(ctx.args);
    const url = str(ctx.args, 'url');
    const eventTypes = list(ctx.args, 'event-type') ?? [];
    if (url === undefined) throw new UsageError('--url is required');
    if (eventTypes.length === 0) throw new UsageError('--event-type is required (a type, category.* or *)');
    const res = await ctx.management().createWebhook({
      url,
      eventTypes,
      description: str(ctx.args, 'description') ?? '',
      organizationIds: list(ctx.args, 'org', 'for every organization leave --org out') ?? [],
    });
    if (ctx.out.json) return ctx.out.value({ webhook: fullJson(res.webhook!, Webhook.toJSON), secret: res.secret });
    showWebhook(ctx, res.webhook, [['secret', `${res.secret}   (shown only now: keep it)`]]);
  },
};

const listCommand: Command = {
  name: 'list',
  usage: '',
  summary: "list the tenant's webhooks",
  async run(ctx) {
    noPositionals(ctx.args);
    const client = ctx.management();
    const webhooks: Webhook[] = [];
    let pageToken = '';
    do {
      const page = await client.listWebhooks({ pageSize: LIST_PAGE_SIZE, pageToken });
      webhooks.push(...page.webhooks);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    if (ctx.out.json) return ctx.out.value({ webhooks: webhooks.map((w) => fullJson(w, Webhook.toJSON)) });
    ctx.out.table(
      ['ID', 'ENABLED', 'EVENT TYPES', 'URL', 'DESCRIPTION'],
      webhooks.map((w) => [w.id, w.enabled ? 'yes' : 'no', w.eventTypes.join(','), w.url, text(w.description)]),
      'No webhooks.',
    );
  },
};

const get: Command = {
  name: 'get',
  usage: 'WEBHOOK_ID',
  summary: 'show one webhook',
  async run(ctx) {
    const { webhook } = await ctx.management().getWebhook({ id: onePositional(ctx.args, 'webhook id') });
    if (ctx.out.json) return ctx.out.value({ webhook: fullJson(webhook!, Webhook.toJSON) });
    showWebhook(ctx, webhook);
  },
};

const update: Command = {
  name: 'update',
  usage: 'WEBHOOK_ID [--url URL] [--event-type TYPE...] [--description TEXT] [--org ID... | --all-orgs] [--enable [--discard-paused] | --disable]',
  summary: 'change the fields given (the others stay as they are)',
  options: {
    url: { type: 'string' },
    'event-type': { type: 'string', multiple: true },
    description: { type: 'string' },
    org: { type: 'string', multiple: true },
    'all-orgs': { type: 'boolean' },
    enable: { type: 'boolean' },
    disable: { type: 'boolean' },
    'discard-paused': { type: 'boolean' },
  },
  async run(ctx) {
    const id = onePositional(ctx.args, 'webhook id');
    const { changes, mask } = updateOf(ctx);
    const { webhook } = await ctx.management().updateWebhook({
      webhook: { ...Webhook.fromPartial({ id }), ...changes },
      updateMask: mask,
      discardPausedDeliveries: flag(ctx.args, 'discard-paused'),
    });
    if (ctx.out.json) return ctx.out.value({ webhook: fullJson(webhook!, Webhook.toJSON) });
    showWebhook(ctx, webhook);
  },
};

/** The flags given, as a partial webhook and its update mask (proto field names). */
function updateOf(ctx: Context): { changes: Partial<Webhook>; mask: string[] } {
  const a = ctx.args;
  const changes: Partial<Webhook> = {};
  const mask: string[] = [];
  const set = <K extends keyof Webhook>(field: K, path: string, value: Webhook[K] | undefined): void => {
    if (value === undefined) return;
    changes[field] = value;
    mask.push(path);
  };
  if (flag(a, 'enable') && flag(a, 'disable')) throw new UsageError('--enable and --disable exclude each other');
  if (flag(a, 'all-orgs') && a.values.org !== undefined) throw new UsageError('--org and --all-orgs exclude each other');
  set('url', 'url', str(a, 'url'));
  set('eventTypes', 'event_types', list(a, 'event-type'));
  set('description', 'description', str(a, 'description'));
  set('organizationIds', 'organization_ids', flag(a, 'all-orgs') ? [] : list(a, 'org', 'for every organization use --all-orgs'));
  set('enabled', 'enabled', flag(a, 'enable') ? true : flag(a, 'disable') ? false : undefined);
  if (mask.length === 0) throw new UsageError('nothing to update: give at least one of --url, --event-type, --description, --org, --all-orgs, --enable, --disable');
  return { changes, mask };
}

const remove: Command = {
  name: 'delete',
  usage: 'WEBHOOK_ID',
  summary: 'delete a webhook with its deliveries, attempts and statistics',
  async run(ctx) {
    const id = onePositional(ctx.args, 'webhook id');
    await ctx.management().deleteWebhook({ id });
    if (ctx.out.json) return ctx.out.value({ deleted: id });
    ctx.out.line(`Deleted webhook ${id}.`);
  },
};

const rotateSecret: Command = {
  name: 'rotate-secret',
  usage: 'WEBHOOK_ID',
  summary: 'issue a new signing secret; the previous one keeps signing for the overlap window',
  async run(ctx) {
    const res = await ctx.management().rotateWebhookSecret({ id: onePositional(ctx.args, 'webhook id') });
    const until = time(res.previousSecretExpireTime);
    if (ctx.out.json) return ctx.out.value({ secret: res.secret, previousSecretExpireTime: until });
    ctx.out.fields([
      ['secret', `${res.secret}   (shown only now: keep it)`],
      ['previous secret signs until', until],
    ]);
  },
};

const test: Command = {
  name: 'test',
  usage: 'WEBHOOK_ID [--data JSON]',
  summary: 'send a webhook.test event to one webhook',
  options: { data: { type: 'string' } },
  async run(ctx) {
    const webhookId = onePositional(ctx.args, 'webhook id');
    const raw = str(ctx.args, 'data');
    const data = raw === undefined ? undefined : parseJsonObject(raw, '--data');
    const { delivery } = await ctx.management().sendTestEvent({ webhookId, data });
    if (ctx.out.json) return ctx.out.value({ delivery: deliveryJson(delivery!) });
    ctx.out.fields(deliveryFields(delivery!));
  },
};

export const webhooksGroup: Group = {
  name: 'webhooks',
  aliases: ['webhook'],
  summary: 'manage webhooks',
  commands: [create, listCommand, get, update, remove, rotateSecret, test],
};
