/** How deliveries print: fields for one, rows for many, JSON for scripts; the --status flag. */
import { Delivery, DeliveryStatus } from '../grpc/generated/webhooks/v1/management';
import { str, UsageError } from './args';
import type { Context } from './command';
import { fullJson, statusName, statusOf, text, time } from './output';

export function deliveryJson(delivery: Delivery): unknown {
  return fullJson(delivery, Delivery.toJSON);
}

export function deliveryFields(d: Delivery): Array<[string, string]> {
  return [
    ['id', d.id],
    ['webhook', d.webhookId],
    ['event', `${d.eventId} (${d.eventType})`],
    ['status', statusName(d.status)],
    ['attempts', String(d.attemptCount)],
    ['created', time(d.createTime)],
    ['next attempt', time(d.nextAttemptTime)],
    ['completed', time(d.completeTime)],
    ['last status code', d.lastStatusCode === 0 ? '-' : String(d.lastStatusCode)],
    ['last error', text(d.lastError)],
  ];
}

export const DELIVERY_HEADERS = ['CREATED', 'ID', 'EVENT TYPE', 'STATUS', 'ATTEMPTS', 'CODE', 'LAST ERROR'];

export function deliveryRow(d: Delivery): string[] {
  const code = d.lastStatusCode === 0 ? '-' : String(d.lastStatusCode);
  return [time(d.createTime), d.id, d.eventType, statusName(d.status), String(d.attemptCount), code, text(d.lastError)];
}

export function statusFlag(ctx: Context): DeliveryStatus {
  const name = str(ctx.args, 'status');
  if (name === undefined) return DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED;
  const status = statusOf(name);
  if (status === undefined) throw new UsageError(`--status: one of pending, succeeded, failed, paused; got "${name}"`);
  return status;
}
