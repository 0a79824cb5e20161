/**
 * The data model.
 *
 * Glossary:
 * - event: one auth event from the identity core, stored once per (tenant_id, id). Its payload
 *   column holds the exact JSON body receivers get, so every retry sends the same bytes.
 * - webhook: a tenant's subscription: a URL, the event types it wants, its sealed signing secret.
 * - delivery: one event on its way to one webhook (the outbox row). Its id is the webhook-id
 *   header. Written in the same transaction as its event, so nothing is sent that was not
 *   committed and nothing committed is lost.
 * - attempt: one HTTP request of a delivery, with what came back.
 * - lease: a worker's claim on a delivery: claim_id is stamped and next_attempt_at is pushed to
 *   the lease's end, so a crashed worker's deliveries simply become due again. Later writes say
 *   WHERE id = ? AND claim_id = ?, so a worker whose lease ran out cannot overwrite a newer one.
 *
 * Times are integer milliseconds since the Unix epoch (BIGINT) on both dialects: no time zones,
 * no DATETIME precision differences between MySQL and SQLite.
 */
import type { Knex } from 'knex';
import { createTableSteps } from '../ddl';

export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';

  // Each table, then each index, only if not there yet: MySQL keeps the steps of a run stopped
  // partway (db/ddl.ts).
  await createTableSteps(
    knex,
    'webhooks',
    (t) => {
      t.string('id', 40).primary();
      t.string('tenant_id', 64).notNullable();
      t.string('url', 2048).notNullable();
      t.string('description', 1024).notNullable().defaultTo('');
      t.text('event_types').notNullable(); // JSON array of patterns
      t.text('organization_ids').nullable(); // JSON array, null for every organization
      t.boolean('enabled').notNullable().defaultTo(true);
      t.string('disabled_reason', 512).nullable();
      t.text('secret_sealed').notNullable();
      t.text('previous_secret_sealed').nullable();
      t.bigInteger('previous_secret_expires_at').nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('updated_at').notNullable();
    },
    // Listing pages by id within a tenant; ingest reads a tenant's webhooks.
    { webhooks_tenant_id: ['tenant_id', 'id'] },
  );

  await createTableSteps(
    knex,
    'events',
    (t) => {
      t.string('tenant_id', 64).notNullable();
      t.string('id', 128).notNullable();
      t.string('type', 64).notNullable();
      t.string('organization_id', 128).nullable();
      t.bigInteger('occurred_at').notNullable();
      t.bigInteger('created_at').notNullable();
      t.integer('delivery_count').notNullable();
      if (mysql) t.specificType('payload', 'MEDIUMTEXT').notNullable();
      else t.text('payload').notNullable();
      // The dedupe key: a repeated (tenant_id, id) creates nothing.
      t.primary(['tenant_id', 'id']);
    },
    { events_created: ['created_at'] }, // retention
  );

  await createTableSteps(
    knex,
    'deliveries',
    (t) => {
      t.string('id', 40).primary();
      t.string('tenant_id', 64).notNullable();
      t.string('webhook_id', 40).notNullable();
      t.string('event_id', 128).notNullable();
      t.string('event_type', 64).notNullable();
      t.string('status', 16).notNullable(); // pending | succeeded | failed | paused
      t.integer('attempt_count').notNullable().defaultTo(0);
      // Pending: when it is due (the end of the lease while claimed). Otherwise null.
      t.bigInteger('next_attempt_at').nullable();
      t.string('claim_id', 40).nullable();
      t.integer('last_status_code').nullable();
      t.string('last_error', 1024).nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('updated_at').notNullable();
      t.bigInteger('completed_at').nullable();
    },
    {
      deliveries_due: ['status', 'next_attempt_at'], // the claim query
      deliveries_webhook_history: ['tenant_id', 'webhook_id', 'created_at'],
      deliveries_tenant_history: ['tenant_id', 'created_at'],
      deliveries_event: ['tenant_id', 'event_id'],
    },
  );

  await createTableSteps(
    knex,
    'delivery_attempts',
    (t) => {
      t.bigIncrements('id').primary();
      t.string('delivery_id', 40).notNullable();
      t.string('tenant_id', 64).notNullable();
      t.string('webhook_id', 40).notNullable();
      t.integer('attempt_number').notNullable();
      t.bigInteger('started_at').notNullable();
      t.integer('duration_ms').notNullable();
      t.integer('status_code').nullable();
      t.text('response_body').nullable();
      t.text('response_headers').nullable(); // JSON object
      t.string('error_class', 32).nullable();
      t.string('error_message', 1024).nullable();
    },
    {
      attempts_delivery: ['delivery_id', 'attempt_number'],
      attempts_started: ['started_at'], // retention
    },
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('delivery_attempts');
  await knex.schema.dropTableIfExists('deliveries');
  await knex.schema.dropTableIfExists('events');
  await knex.schema.dropTableIfExists('webhooks');
}
