/**
 * Sending again: one delivery now (same webhook-id, a new attempt), every failed delivery of a
 * webhook since a time, or a webhook.test event to one webhook.
 */
import type { Knex } from 'knex';
import { isMysql } from '../db/connect';
import { retryOnDeadlock } from '../db/deadlock';
import { InputError, NotFoundError, PreconditionError } from '../errors';
import { PROCESS_CLOCK, type Clock } from '../db/db-clock';
import { isNestedTooDeep, MAX_DATA_DEPTH } from '../grpc/data-depth';
import { newEventId } from '../ids';
import { deliveryRow, insertEvents } from '../ingest/outbox-rows';
import { checkNoProtoKey, renderPayload } from '../ingest/validate-event';
import { countStatusChange } from '../outbox/stats';
import { currentTraceparent } from '../telemetry/trace-context';
import type { DeliveryHistory, DeliveryRecord } from './delivery-history';
import { checkId } from './validate-webhook';
import type { WebhookManager } from './webhooks';

export const TEST_EVENT_DATA = { message: 'This is a test event from the webhooks sidecar.' };

export class Redelivery {
  constructor(
    private readonly db: Knex,
    private readonly webhooks: WebhookManager,
    private readonly history: DeliveryHistory,
    private readonly onDeliveriesDue: () => void,
    private readonly maxEventBytes: number,
    private readonly separateBodies = false,
    /** The database's clock: "due now" must be now for every replica's claims. */
    private readonly clock: Clock = PROCESS_CLOCK,
  ) {}

  /** Makes the delivery due now. A delivery already waiting is just moved up. */
  async retry(tenantId: string, id: string): Promise<DeliveryRecord> {
    const delivery = await this.history.get(tenantId, checkId(id));
    if (!delivery) throw new NotFoundError(`delivery "${id.slice(0, 64)}" not found`);
    await this.requireEnabled(tenantId, delivery.webhookId);
    const now = this.clock.now();
    await this.db.transaction(async (trx) => {
      const updated = await trx('deliveries')
        .where({ tenant_id: tenantId, id: delivery.id, status: delivery.status })
        .whereNull('claim_id') // one in flight is already being sent
        .update({ status: 'pending', next_attempt_at: now, completed_at: null, updated_at: now });
      if (updated > 0) await countStatusChange(trx, tenantId, delivery.webhookId, leaving(delivery.status, 1));
    });
    this.onDeliveriesDue();
    return this.reread(tenantId, delivery.id);
  }

  /** Every failed delivery of the webhook created at or after `since`; returns how many. */
  async retryFailed(tenantId: string, webhookId: string, since: number | undefined): Promise<number> {
    if (since === undefined) throw new InputError('since', 'is required');
    await this.requireEnabled(tenantId, checkId(webhookId, 'webhook_id'));
    const now = this.clock.now();
    const count = await this.db.transaction(async (trx) => {
      const n = await trx('deliveries')
        .where({ tenant_id: tenantId, webhook_id: webhookId, status: 'failed' })
        .andWhere('created_at', '>=', since)
        .update({ status: 'pending', next_attempt_at: now, completed_at: null, claim_id: null, updated_at: now });
      await countStatusChange(trx, tenantId, webhookId, leaving('failed', n));
      return n;
    });
    if (count > 0) this.onDeliveriesDue();
    return count;
  }

  /** A webhook.test event with one delivery, to this webhook only. */
  async sendTest(tenantId: string, webhookId: string, data: Record<string, unknown> | undefined): Promise<DeliveryRecord> {
    checkId(webhookId, 'webhook_id');
    if (isNestedTooDeep(data)) throw new InputError('data', `is nested more than ${MAX_DATA_DEPTH} levels`);
    const now = this.clock.now();
    const event = { tenantId, id: newEventId(), type: 'webhook.test', organizationId: null, occurredAt: now };
    const payload = renderPayload(event, data ?? TEST_EVENT_DATA);
    checkNoProtoKey(data, payload, 'data');
    const size = Buffer.byteLength(payload, 'utf8');
    if (size > this.maxEventBytes) {
      throw new InputError('data', `the test event is ${size} bytes, over the limit of ${this.maxEventBytes}`);
    }
    const delivery = deliveryRow({ ...event, payload }, webhookId, now);
    // Its attempt joins the SendTestEvent call's trace, as an ingested event's join its ingest.
    const traceContext = currentTraceparent();
    await retryOnDeadlock(() =>
      this.db.transaction(async (trx) => {
        await this.requireEnabledLocked(trx, tenantId, webhookId);
        await insertEvents(trx, [{ ...event, payload, traceContext }], 1, now, this.separateBodies);
        await trx('deliveries').insert(delivery);
      }),
    );
    this.onDeliveriesDue();
    return this.reread(tenantId, delivery.id as string);
  }

  /**
   * The delivery as it is after the write. A DeleteWebhook that commits in between takes the
   * delivery with it: that is NOT_FOUND, as the call would have been a moment later, not a crash
   * on a missing row (INTERNAL).
   */
  private async reread(tenantId: string, id: string): Promise<DeliveryRecord> {
    const delivery = await this.history.get(tenantId, id);
    if (!delivery) throw new NotFoundError(`delivery "${id}" not found: its webhook was deleted meanwhile`);
    return delivery;
  }

  private async requireEnabled(tenantId: string, webhookId: string): Promise<void> {
    const webhook = await this.webhooks.get(tenantId, webhookId);
    if (!webhook.enabled) throw disabled(webhookId);
  }

  /**
   * The check of SendTestEvent, in the transaction that writes its delivery. On MySQL the read
   * locks the webhook in share mode until COMMIT, as ingest's read of its subscriptions does
   * (src/ingest/subscriptions.ts). A check before the transaction let a DeleteWebhook commit
   * between it and the INSERT: the delivery row outlived the webhook, and the worker sent it after
   * the delete had answered OK. With the lock a delete under way is waited for and then read (the
   * row is gone: NOT_FOUND), and a delete that comes later waits for this COMMIT and then deletes
   * the new delivery with the others. SQLite runs one write transaction at a time.
   */
  private async requireEnabledLocked(trx: Knex.Transaction, tenantId: string, webhookId: string): Promise<void> {
    const read = trx('webhooks').select('enabled').where({ tenant_id: tenantId, id: webhookId });
    if (isMysql(this.db)) void read.forShare();
    const row = (await read.first()) as { enabled: number | boolean } | undefined;
    if (!row) throw new NotFoundError(`webhook "${webhookId.slice(0, 64)}" not found`);
    if (!row.enabled) throw disabled(webhookId);
  }
}

function disabled(webhookId: string): PreconditionError {
  return new PreconditionError(`webhook "${webhookId}" is disabled; enable it first (UpdateWebhook)`);
}

function leaving(status: string, n: number): { succeeded?: number; failed?: number } {
  if (status === 'succeeded') return { succeeded: -n };
  if (status === 'failed') return { failed: -n };
  return {};
}
