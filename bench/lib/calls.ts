/** Promise wrappers and the bench's events and webhooks. */
import type * as grpc from '@grpc/grpc-js';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import type {
  CreateWebhookRequest,
  CreateWebhookResponse,
  WebhookManagementClient,
} from '../../src/grpc/generated/webhooks/v1/management';

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown;

export function call<Req, Res>(fn: Unary<Req, Res>, req: Req, md: grpc.Metadata): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

export const TENANT = 'bench-tenant';
/** Pads user.login's data so that the JSON body receivers get is about 1 KB. */
const PADDING = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 '.repeat(8);

export function benchEvent(id: string, sentAt?: number): Event {
  return {
    id,
    tenantId: TENANT,
    type: 'user.login',
    occurredAt: new Date(),
    organizationId: '',
    data: { user_id: `u-${id}`, user_agent: PADDING, auth_method: 'password', ...(sentAt ? { sent_at: sentAt } : {}) },
  };
}

/** `n` webhooks for user.login at the given URLs (round robin); enabled or not. */
export async function createWebhooks(
  admin: WebhookManagementClient,
  md: grpc.Metadata,
  urls: readonly string[],
  n: number,
  enabled: boolean,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const created = await call<CreateWebhookRequest, CreateWebhookResponse>(admin.createWebhook.bind(admin), { url: urls[i % urls.length]!, eventTypes: ['user.login'], description: `bench ${i}`, organizationIds: [] }, md);
    ids.push(created.webhook!.id);
    if (!enabled) await setEnabled(admin, md, created.webhook!.id, false);
  }
  return ids;
}

export async function setEnabled(admin: WebhookManagementClient, md: grpc.Metadata, id: string, enabled: boolean): Promise<void> {
  const webhook = { id, tenantId: '', url: '', eventTypes: [], description: '', enabled, disabledReason: '', organizationIds: [], createTime: undefined, updateTime: undefined };
  await call(admin.updateWebhook.bind(admin), { webhook, updateMask: ['enabled'], discardPausedDeliveries: false }, md);
}
