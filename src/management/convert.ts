/** Storage records to wire messages. */
import type { Delivery, DeliveryAttempt, Webhook, WebhookStats } from '../grpc/generated/webhooks/v1/management';
import { DeliveryStatus } from '../grpc/generated/webhooks/v1/management';
import type { AttemptRecord, DeliveryRecord } from './delivery-history';
import type { WebhookStatsRecord } from './stats';
import type { WebhookRecord } from './webhook-store';

export function toWebhook(record: WebhookRecord): Webhook {
  return {
    id: record.id,
    tenantId: record.tenantId,
    url: record.url,
    eventTypes: [...record.eventTypes],
    description: record.description,
    enabled: record.enabled,
    disabledReason: record.disabledReason ?? '',
    organizationIds: [...(record.organizationIds ?? [])],
    createTime: new Date(record.createdAt),
    updateTime: new Date(record.updatedAt),
  };
}

const STATUSES: Record<string, DeliveryStatus> = {
  pending: DeliveryStatus.DELIVERY_STATUS_PENDING,
  succeeded: DeliveryStatus.DELIVERY_STATUS_SUCCEEDED,
  failed: DeliveryStatus.DELIVERY_STATUS_FAILED,
  paused: DeliveryStatus.DELIVERY_STATUS_PAUSED,
};

export function statusName(status: DeliveryStatus): string | undefined {
  return Object.keys(STATUSES).find((name) => STATUSES[name] === status);
}

export function toDelivery(record: DeliveryRecord): Delivery {
  return {
    id: record.id,
    webhookId: record.webhookId,
    eventId: record.eventId,
    eventType: record.eventType,
    status: STATUSES[record.status] ?? DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED,
    attemptCount: record.attemptCount,
    createTime: new Date(record.createdAt),
    nextAttemptTime:
      record.status === 'pending' && record.nextAttemptAt !== null ? new Date(record.nextAttemptAt) : undefined,
    completeTime: record.completedAt === null ? undefined : new Date(record.completedAt),
    lastStatusCode: record.lastStatusCode ?? 0,
    lastError: record.lastError ?? '',
  };
}

export function toAttempt(record: AttemptRecord): DeliveryAttempt {
  return {
    attemptNumber: record.attemptNumber,
    startTime: new Date(record.startedAt),
    durationMs: record.durationMs,
    statusCode: record.statusCode ?? 0,
    responseBody: record.responseBody ?? '',
    errorClass: record.errorClass ?? '',
    errorMessage: record.errorMessage ?? '',
    responseHeaders: record.responseHeaders,
  };
}

export function toStats(record: WebhookStatsRecord): WebhookStats {
  const time = (ms: number | null) => (ms === null ? undefined : new Date(ms));
  return {
    deliveriesSucceeded: record.deliveriesSucceeded,
    deliveriesFailed: record.deliveriesFailed,
    deliveriesPending: record.deliveriesPending,
    deliveriesPaused: record.deliveriesPaused,
    attempts: record.attempts,
    successRate: record.successRate,
    consecutiveFailures: record.consecutiveFailures,
    failingSince: time(record.failingSince),
    lastSuccessTime: time(record.lastSuccessAt),
    lastFailureTime: time(record.lastFailureAt),
  };
}
