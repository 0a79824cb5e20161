/**
 * The WebhookManagement gRPC service: the admin service's door, one tenant per call. The platform
 * operator's token uses the same RPCs on its own scope (PLATFORM_SCOPE): its webhooks receive the
 * events of every tenant, and no tenant can see them.
 */
import type { Knex } from 'knex';
import { InputError, NotFoundError } from '../errors';
import type { Clock } from '../db/db-clock';
import type {
  CreateWebhookRequest,
  GetDeliveryRequest,
  GetWebhookStatsRequest,
  RetryFailedDeliveriesRequest,
  SendTestEventRequest,
  ListDeliveriesRequest,
  ListWebhooksRequest,
  UpdateWebhookRequest,
  WebhookManagementServer,
} from '../grpc/generated/webhooks/v1/management';
import { DeliveryStatus } from '../grpc/generated/webhooks/v1/management';
import { SERVICE_ROLES } from '../grpc/auth';
import { unary, type HandlerDeps } from '../grpc/handlers';
import type { EventCatalog } from '../ingest/catalog/catalog';
import { statusName, toAttempt, toDelivery, toStats, toWebhook } from './convert';
import type { DeliveryHistory } from './delivery-history';
import { decodePageToken, encodePageToken, pageSizeOf } from './page-token';
import type { Redelivery } from './redelivery';
import { readStats } from './stats';
import { checkId } from './validate-webhook';
import type { WebhookManager, WebhookPatch } from './webhooks';

export interface ManagementDeps {
  readonly db: Knex;
  /** The database's clock: a stats window is measured back from the database's now. */
  readonly clock: Clock;
  readonly webhooks: WebhookManager;
  readonly redelivery: Redelivery;
  readonly history: DeliveryHistory;
  readonly catalog: EventCatalog;
}

export function managementService(deps: HandlerDeps, m: ManagementDeps): WebhookManagementServer {
  const roles = SERVICE_ROLES['webhooks.v1.WebhookManagement']!;
  return {
    createWebhook: unary(deps, 'CreateWebhook', roles, async (req: CreateWebhookRequest, ctx) => {
      const { webhook, secret } = await m.webhooks.create(ctx.tenantId, {
        url: req.url,
        eventTypes: req.eventTypes,
        description: req.description,
        organizationIds: req.organizationIds,
      });
      return { webhook: toWebhook(webhook), secret };
    }),
    getWebhook: unary(deps, 'GetWebhook', roles, async (req: { id: string }, ctx) => ({
      webhook: toWebhook(await m.webhooks.get(ctx.tenantId, req.id)),
    })),
    listWebhooks: unary(deps, 'ListWebhooks', roles, async (req: ListWebhooksRequest, ctx) => {
      const page = await m.webhooks.list(ctx.tenantId, req.pageSize, req.pageToken);
      return { webhooks: page.webhooks.map(toWebhook), nextPageToken: page.nextPageToken };
    }),
    updateWebhook: unary(deps, 'UpdateWebhook', roles, async (req: UpdateWebhookRequest, ctx) => {
      if (!req.webhook) throw new InputError('webhook', 'is required');
      const patch = patchOf(req);
      const updated = await m.webhooks.update(ctx.tenantId, req.webhook.id, patch, req.discardPausedDeliveries);
      return { webhook: toWebhook(updated) };
    }),
    deleteWebhook: unary(deps, 'DeleteWebhook', roles, async (req: { id: string }, ctx) => {
      await m.webhooks.delete(ctx.tenantId, req.id);
      return {};
    }),
    listDeliveries: unary(deps, 'ListDeliveries', roles, async (req: ListDeliveriesRequest, ctx) => {
      const limit = pageSizeOf(req.pageSize);
      const filter = deliveryFilter(req, ctx.tenantId);
      // An unknown (or another tenant's) webhook is NOT_FOUND, not an empty page.
      if (filter.webhookId !== undefined) await m.webhooks.get(ctx.tenantId, filter.webhookId);
      const rows = await m.history.list(ctx.tenantId, filter, limit + 1);
      const deliveries = rows.slice(0, limit);
      const nextPageToken = rows.length > limit ? encodePageToken(deliveries[deliveries.length - 1]!.id, filter.list) : '';
      return { deliveries: deliveries.map(toDelivery), nextPageToken };
    }),
    getDelivery: unary(deps, 'GetDelivery', roles, async (req: GetDeliveryRequest, ctx) => {
      const delivery = await m.history.get(ctx.tenantId, checkId(req.id));
      if (!delivery) throw new NotFoundError(`delivery "${req.id.slice(0, 64)}" not found`);
      const attempts = await m.history.attempts(ctx.tenantId, delivery.id);
      return { delivery: toDelivery(delivery), attempts: attempts.map(toAttempt) };
    }),
    listEventTypes: unary(deps, 'ListEventTypes', roles, () =>
      Promise.resolve({
        eventTypes: m.catalog.list().map((t) => ({
          name: t.name,
          category: t.category,
          description: t.description,
          schema: { ...t.schema },
        })),
      }),
    ),
    rotateWebhookSecret: unary(deps, 'RotateWebhookSecret', roles, async (req: { id: string }, ctx) => {
      const { secret, previousExpiresAt } = await m.webhooks.rotateSecret(ctx.tenantId, req.id);
      return {
        secret,
        previousSecretExpireTime: previousExpiresAt === null ? undefined : new Date(previousExpiresAt),
      };
    }),
    retryDelivery: unary(deps, 'RetryDelivery', roles, async (req: { id: string }, ctx) => ({
      delivery: toDelivery(await m.redelivery.retry(ctx.tenantId, req.id)),
    })),
    retryFailedDeliveries: unary(deps, 'RetryFailedDeliveries', roles, async (req: RetryFailedDeliveriesRequest, ctx) => ({
      deliveryCount: await m.redelivery.retryFailed(ctx.tenantId, req.webhookId, timeOf(req.since, 'since')),
    })),
    sendTestEvent: unary(deps, 'SendTestEvent', roles, async (req: SendTestEventRequest, ctx) => ({
      delivery: toDelivery(await m.redelivery.sendTest(ctx.tenantId, req.webhookId, req.data)),
    })),
    getWebhookStats: unary(deps, 'GetWebhookStats', roles, async (req: GetWebhookStatsRequest, ctx) => {
      const webhookId = checkId(req.webhookId, 'webhook_id');
      const windowMs = req.window ? req.window.seconds * 1000 + Math.floor(req.window.nanos / 1e6) : 0;
      return { stats: toStats(await readStats(m.db, ctx.tenantId, webhookId, windowMs, m.clock.now())) };
    }),
  };
}

/** Field-mask paths, in proto (snake_case) or JSON (camelCase) spelling. */
const MASK_PATHS: Record<string, keyof WebhookPatch> = {
  url: 'url',
  event_types: 'eventTypes',
  eventTypes: 'eventTypes',
  description: 'description',
  enabled: 'enabled',
  organization_ids: 'organizationIds',
  organizationIds: 'organizationIds',
};

function patchOf(req: UpdateWebhookRequest): WebhookPatch {
  const paths = req.updateMask ?? [];
  if (paths.length === 0) {
    throw new InputError('update_mask', `must name at least one of ${Object.keys(MASK_PATHS).filter((p) => !/[A-Z]/.test(p)).join(', ')}`);
  }
  const webhook = req.webhook!;
  const patch: { -readonly [K in keyof WebhookPatch]: WebhookPatch[K] } = {};
  paths.forEach((path, i) => {
    const field = MASK_PATHS[path];
    if (field === undefined) {
      throw new InputError(`update_mask.paths[${i}]`, `"${path.slice(0, 64)}" is not a field that can be updated`);
    }
    (patch as Record<string, unknown>)[field] = webhook[field];
  });
  return patch;
}

function deliveryFilter(req: ListDeliveriesRequest, tenantId: string) {
  const status = req.status === DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED ? undefined : statusName(req.status);
  if (req.status !== DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED && status === undefined) {
    throw new InputError('status', 'is not a delivery status');
  }
  const from = timeOf(req.startTime, 'start_time');
  const to = timeOf(req.endTime, 'end_time');
  if (from !== undefined && to !== undefined && to <= from) {
    throw new InputError('end_time', 'must be after start_time');
  }
  const webhookId = req.webhookId === '' ? undefined : checkId(req.webhookId, 'webhook_id');
  // The filters define the list a page token continues: with others it is another list.
  const list = { rpc: 'ListDeliveries', tenantId, filters: { webhookId, status, from, to } };
  return { webhookId, status, from, to, before: decodePageToken(req.pageToken, list), list };
}

/**
 * A request's Timestamp in ms since the epoch. Its seconds can be any int64; one beyond what a
 * date can hold (about 275,000 years either way) arrives as an invalid Date and is refused.
 */
function timeOf(value: Date | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value.getTime();
  if (!Number.isFinite(ms)) throw new InputError(field, 'is not a valid time');
  return ms;
}
