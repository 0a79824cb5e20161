/**
 * The delivery engine's state.
 *
 * - webhook_stats: one row per webhook, counters updated in the same transaction as each attempt
 *   (GetWebhookStats never scans history), and the failure streak that disables a dead endpoint.
 * - webhook_stats_hourly: attempts and successes per webhook and hour, for the success rate over
 *   a window.
 * - deliveries (webhook_id, status): pausing, resuming and counting one webhook's deliveries.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_stats', (t) => {
    t.string('webhook_id', 40).primary();
    t.string('tenant_id', 64).notNullable();
    t.bigInteger('deliveries_succeeded').notNullable().defaultTo(0);
    t.bigInteger('deliveries_failed').notNullable().defaultTo(0);
    t.bigInteger('attempts').notNullable().defaultTo(0);
    t.bigInteger('attempts_succeeded').notNullable().defaultTo(0);
    t.integer('consecutive_failures').notNullable().defaultTo(0);
    // When the current streak of failed attempts began; null while the endpoint is healthy.
    t.bigInteger('failing_since').nullable();
    t.bigInteger('last_success_at').nullable();
    t.bigInteger('last_failure_at').nullable();
  });

  await knex.schema.createTable('webhook_stats_hourly', (t) => {
    t.string('webhook_id', 40).notNullable();
    t.string('tenant_id', 64).notNullable();
    t.bigInteger('hour_start').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('successes').notNullable().defaultTo(0);
    t.primary(['webhook_id', 'hour_start']);
    t.index(['hour_start'], 'stats_hourly_hour'); // retention
  });

  // Webhooks made before this migration get their counters row.
  const existing = (await knex('webhooks').select('id', 'tenant_id')) as Array<{ id: string; tenant_id: string }>;
  for (let i = 0; i < existing.length; i += 500) {
    await knex('webhook_stats').insert(existing.slice(i, i + 500).map((w) => ({ webhook_id: w.id, tenant_id: w.tenant_id })));
  }

  await knex.schema.alterTable('deliveries', (t) => {
    t.index(['webhook_id', 'status'], 'deliveries_webhook_status');
    t.index(['completed_at'], 'deliveries_completed'); // retention
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['webhook_id', 'status'], 'deliveries_webhook_status');
    t.dropIndex(['completed_at'], 'deliveries_completed');
  });
  await knex.schema.dropTableIfExists('webhook_stats_hourly');
  await knex.schema.dropTableIfExists('webhook_stats');
}
