/**
 * tenant_locks: one row per tenant (and one for the platform scope) that has ever created a
 * webhook, locked by CreateWebhook so that a tenant's creates take turns while they count its
 * webhooks against the limit (src/management/webhook-store.ts).
 *
 * The count used to lock the tenant's range of the webhooks_tenant_id index instead. For a tenant
 * with no webhook yet that range is only a gap, and InnoDB lets every transaction hold the same gap
 * at once: each racer's insert then waited for the others' gap locks, and all but one were rolled
 * back as deadlock victims, over and over (12 first creates at once in each of two new tenants
 * failed 7 of 24 times after three tries). A row lock has one holder, and the others queue.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenant_locks', (t) => {
    t.string('tenant_id', 64).primary();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tenant_locks');
}
