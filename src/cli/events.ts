/** `webhooks-sidecar events ...`: publish events from JSON (a file or stdin), list the catalog. */
import { Event, type EventResult } from '../grpc/generated/webhooks/v1/event';
import { EventType } from '../grpc/generated/webhooks/v1/management';
import { noPositionals, str, UsageError } from './args';
import type { Command, Context, Group } from './command';
import { at, readSource, refuseHazards } from './json-input';
import { text } from './output';

/** The server's limit per PublishEvents call (README, Limits). */
const BATCH = 1_000;

const publish: Command = {
  name: 'publish',
  usage: '[FILE | -] [--tenant ID]',
  summary: 'publish events: one JSON object, an array, or one object per line (stdin when FILE is - or absent)',
  async run(ctx) {
    if (ctx.args.positionals.length > 1) throw new UsageError('expected at most one FILE');
    const source = ctx.args.positionals[0] ?? '-';
    const events = parseEvents(await readSource(source, ctx.io.stdin), source, defaultTenant(ctx));
    const client = ctx.ingest();
    const results: EventResult[] = [];
    for (let start = 0; start < events.length; start += BATCH) {
      const batch = events.slice(start, start + BATCH);
      if (batch.length === 1) results.push((await client.publishEvent({ event: batch[0] })).result!);
      else results.push(...(await client.publishEvents({ events: batch })).results);
    }
    const refused = results.filter((r) => r.error !== undefined).length;
    if (ctx.out.json) {
      ctx.out.value({ results: results.map((r) => ({ eventId: r.eventId, duplicate: r.duplicate, deliveryCount: r.deliveryCount, error: r.error })) });
    } else {
      ctx.out.table(
        ['EVENT ID', 'DUPLICATE', 'DELIVERIES', 'ERROR'],
        results.map((r) =>
          r.error ? [text(r.eventId), '-', '-', r.error.message] : [r.eventId, r.duplicate ? 'yes' : 'no', String(r.deliveryCount), '-'],
        ),
        'No events.',
      );
    }
    if (refused > 0) {
      ctx.io.stderr.write(`${refused} of ${results.length} events refused\n`);
      return 1;
    }
  },
};

/** --tenant (or WEBHOOKS_TENANT) fills in events that name no tenant. */
function defaultTenant(ctx: Context): string | undefined {
  const value = str(ctx.args, 'tenant') ?? ctx.io.env.WEBHOOKS_TENANT;
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The proto3 JSON form of webhooks.v1.Event (tenant_id or tenantId, and so on). */
export function parseEvents(raw: string, source: string, tenant: string | undefined): Event[] {
  const values = parseJsonValues(raw, source);
  if (values.length === 0) throw new UsageError(`${source}: no events`);
  return values.map((value, i) => {
    const where = values.length === 1 ? source : `${source}: event ${i + 1}`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where}: must be a JSON object`);
    const event = Event.fromJSON(value);
    if (event.occurredAt !== undefined && Number.isNaN(event.occurredAt.getTime())) {
      throw new UsageError(`${where}: occurred_at is not an RFC 3339 time`);
    }
    return event.tenantId === '' && tenant !== undefined ? { ...event, tenantId: tenant } : event;
  });
}

/** One JSON document (an object, or an array of them), or JSON Lines. */
function parseJsonValues(raw: string, source: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (whole) {
    const lines = raw.split('\n').filter((line) => line.trim() !== '');
    if (lines.length < 2) throw new UsageError(`${source}: not valid JSON: ${(whole as Error).message}`);
    return lines.map((line, i) => {
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch (err) {
        throw new UsageError(`${source}: line ${i + 1}: not valid JSON: ${(err as Error).message}`);
      }
      refuseHazards(line, (path) => at(`${source}: line ${i + 1}`, path));
      return event;
    });
  }
  if (!Array.isArray(value)) {
    refuseHazards(raw, (path) => at(source, path));
    return [value];
  }
  refuseHazards(raw, ([index, ...path]) => at(`${source}: event ${(index as number) + 1}`, path));
  return value;
}

const types: Command = {
  name: 'types',
  usage: '',
  summary: 'the event catalog (--json adds each JSON Schema)',
  async run(ctx) {
    noPositionals(ctx.args);
    const { eventTypes } = await ctx.management().listEventTypes({});
    if (ctx.out.json) return ctx.out.value({ eventTypes: eventTypes.map((t) => EventType.toJSON(t)) });
    ctx.out.table(['NAME', 'CATEGORY', 'DESCRIPTION'], eventTypes.map((t) => [t.name, t.category, text(t.description)]), 'No event types.');
  },
};

export const eventsGroup: Group = {
  name: 'events',
  aliases: ['event'],
  summary: 'publish events, list event types',
  commands: [publish, types],
};
