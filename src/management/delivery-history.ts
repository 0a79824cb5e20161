/** Read side of deliveries and attempts for the admin service. Every query filters by tenant_id. */
import type { Knex } from 'knex';

export interface DeliveryRecord {
  readonly id: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: string;
  readonly attemptCount: number;
  readonly nextAttemptAt: number | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly completedAt: number | null;
}

export interface AttemptRecord {
  readonly attemptNumber: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly responseBody: string | null;
  readonly responseHeaders: Record<string, string>;
  readonly errorClass: string | null;
  readonly errorMessage: string | null;
}

export interface DeliveryFilter {
  readonly webhookId?: string;
  readonly status?: string;
  /** Inclusive, ms. */
  readonly from?: number;
  /** Exclusive, ms. */
  readonly to?: number;
  /** The last id of the previous page (pages go newest first). */
  readonly before?: string;
}

const DELIVERY_COLUMNS = [
  'id',
  'webhook_id',
  'event_id',
  'event_type',
  'status',
  'attempt_count',
  'next_attempt_at',
  'last_status_code',
  'last_error',
  'created_at',
  'completed_at',
];

export class DeliveryHistory {
  constructor(private readonly db: Knex) {}

  async list(tenantId: string, filter: DeliveryFilter, limit: number): Promise<DeliveryRecord[]> {
    const query = this.db('deliveries').select(DELIVERY_COLUMNS).where('tenant_id', tenantId);
    if (filter.webhookId !== undefined) void query.andWhere('webhook_id', filter.webhookId);
    if (filter.status !== undefined) void query.andWhere('status', filter.status);
    if (filter.from !== undefined) void query.andWhere('created_at', '>=', filter.from);
    if (filter.to !== undefined) void query.andWhere('created_at', '<', filter.to);
    if (filter.before !== undefined) void query.andWhere('id', '<', filter.before);
    // Ids are ULIDs: newest first by id is newest first by creation.
    const rows = (await query.orderBy('id', 'desc').limit(limit)) as Record<string, unknown>[];
    return rows.map(deliveryFromRow);
  }

  async get(tenantId: string, id: string): Promise<DeliveryRecord | undefined> {
    const row = (await this.db('deliveries').select(DELIVERY_COLUMNS).where({ tenant_id: tenantId, id }).first()) as
      | Record<string, unknown>
      | undefined;
    return row && deliveryFromRow(row);
  }

  async attempts(tenantId: string, deliveryId: string): Promise<AttemptRecord[]> {
    const rows = (await this.db('delivery_attempts')
      .select('*')
      .where({ tenant_id: tenantId, delivery_id: deliveryId })
      .orderBy('attempt_number')) as Record<string, unknown>[];
    return rows.map(attemptFromRow);
  }
}

function deliveryFromRow(row: Record<string, unknown>): DeliveryRecord {
  return {
    id: row.id as string,
    webhookId: row.webhook_id as string,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    status: row.status as string,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: nullableNumber(row.next_attempt_at),
    lastStatusCode: nullableNumber(row.last_status_code),
    lastError: (row.last_error as string | null) ?? null,
    createdAt: Number(row.created_at),
    completedAt: nullableNumber(row.completed_at),
  };
}

function attemptFromRow(row: Record<string, unknown>): AttemptRecord {
  return {
    attemptNumber: Number(row.attempt_number),
    startedAt: Number(row.started_at),
    durationMs: Number(row.duration_ms),
    statusCode: nullableNumber(row.status_code),
    responseBody: (row.response_body as string | null) ?? null,
    responseHeaders: row.response_headers ? (JSON.parse(row.response_headers as string) as Record<string, string>) : {},
    errorClass: (row.error_class as string | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
  };
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
