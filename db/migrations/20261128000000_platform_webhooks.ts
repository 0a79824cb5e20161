/**
 * Platform webhooks: the platform operator's webhooks receive the events of every tenant.
 *
 * They are stored like any webhook, under the reserved tenant_id "*platform" (PLATFORM_SCOPE in
 * src/grpc/auth.ts), which no tenant id can equal: tenant ids start with a letter or digit. Their
 * deliveries, attempts and counters are stored under that scope too, so every tenant-filtered
 * query leaves them out. Such a delivery still needs its event, whose key is (tenant_id, id) with
 * the event's own tenant: deliveries.event_tenant_id names that tenant, and is null for the
 * deliveries of a tenant's own webhooks (the event's tenant is then tenant_id).
 */
import type { Knex } from 'knex';
import { addColumnStep, addIndexStep } from '../ddl';

export async function up(knex: Knex): Promise<void> {
  // Two statements on MySQL, each made only if missing (db/ddl.ts).
  await addColumnStep(knex, 'deliveries', 'event_tenant_id', (t) => {
    t.string('event_tenant_id', 64).nullable();
  });
  // Retention keeps an event while a platform delivery still refers to it.
  await addIndexStep(knex, 'deliveries', 'deliveries_platform_event', ['event_tenant_id', 'event_id']);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['event_tenant_id', 'event_id'], 'deliveries_platform_event');
    t.dropColumn('event_tenant_id');
  });
}
