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
import { addIndexStep, createTableSteps } from '../ddl';

export async function up(knex: Knex): Promise<void> {
  // Each step only if not made yet: MySQL keeps the steps of a run stopped partway (db/ddl.ts).
  await createTableSteps(knex, 'webhook_stats', (t) => {
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

  await createTableSteps(
    knex,
    'webhook_stats_hourly',
    (t) => {
      t.string('webhook_id', 40).notNullable();
      t.string('tenant_id', 64).notNullable();
      t.bigInteger('hour_start').notNullable();
      t.integer('attempts').notNullable().defaultTo(0);
      t.integer('successes').notNullable().defaultTo(0);
      t.primary(['webhook_id', 'hour_start']);
    },
    { stats_hourly_hour: ['hour_start'] }, // retention
  );

  // Webhooks made before this migration get their counters row (those a stopped run gave one
  // already are left as they are).
  const existing = (await knex('webhooks as w')
    .select('w.id', 'w.tenant_id')
    .whereNotExists(knex('webhook_stats as s').select(knex.raw('1')).whereRaw('s.webhook_id = w.id'))) as Array<{
    id: string;
    tenant_id: string;
  }>;
  for (let i = 0; i < existing.length; i += 500) {
    await knex('webhook_stats').insert(existing.slice(i, i + 500).map((w) => ({ webhook_id: w.id, tenant_id: w.tenant_id })));
  }

  await addIndexStep(knex, 'deliveries', 'deliveries_webhook_status', ['webhook_id', 'status']);
  await addIndexStep(knex, 'deliveries', 'deliveries_completed', ['completed_at']); // retention
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['webhook_id', 'status'], 'deliveries_webhook_status');
    t.dropIndex(['completed_at'], 'deliveries_completed');
  });
  await knex.schema.dropTableIfExists('webhook_stats_hourly');
  await knex.schema.dropTableIfExists('webhook_stats');
}
