/**
 * Two fewer indexes on deliveries, the table every event writes a row to per webhook: each
 * secondary index is one more B-tree insert per row, and MariaDB spent 81 µs of CPU per event
 * (one event, three deliveries, batches of 100) with them against 69 µs without.
 *
 * - deliveries_event (tenant_id, event_id) and deliveries_platform_event (event_tenant_id,
 *   event_id) served one question, retention's "does a delivery still need this event?". Now
 *   event_tenant_id always names the event's tenant (it was null for a tenant's own webhooks),
 *   so the second index, renamed deliveries_by_event, answers it alone.
 * - deliveries_completed (completed_at): retention walks the primary key instead, whose ULIDs
 *   sort by creation time (src/outbox/retention.ts).
 *
 * And one index made wider: the claim's deliveries_due (status, next_attempt_at) gains
 * webhook_id. A claim leaves out the webhooks that have no place left in the worker, and with
 * the webhook only in the row, it read every due row of such a webhook to skip it: 11 ms a claim
 * behind 10,000 due rows of one busy webhook, 21 ms behind 20,000. With it in the index the rows
 * are skipped in the index: 2.1 and 3.4 ms.
 */
import type { Knex } from 'knex';
import { addIndexStep, dropIndexStep, hasIndex, indexColumns } from '../ddl';

export async function up(knex: Knex): Promise<void> {
  // Every step checks whether a run stopped partway made it already (db/ddl.ts).
  await fillEventTenant(knex);
  await dropIndexStep(knex, 'deliveries', 'deliveries_event', ['tenant_id', 'event_id']);
  await dropIndexStep(knex, 'deliveries', 'deliveries_completed', ['completed_at']);
  await renameIndex(knex, 'deliveries_platform_event', 'deliveries_by_event');
  await replaceIndex(knex, 'deliveries_due', ['status', 'next_attempt_at'], ['status', 'next_attempt_at', 'webhook_id']);
}

export async function down(knex: Knex): Promise<void> {
  await replaceIndex(knex, 'deliveries_due', ['status', 'next_attempt_at', 'webhook_id'], ['status', 'next_attempt_at']);
  await renameIndex(knex, 'deliveries_by_event', 'deliveries_platform_event');
  await addIndexStep(knex, 'deliveries', 'deliveries_event', ['tenant_id', 'event_id']);
  await addIndexStep(knex, 'deliveries', 'deliveries_completed', ['completed_at']);
  await knex('deliveries').where('event_tenant_id', knex.ref('tenant_id')).update({ event_tenant_id: null });
}

/**
 * On MySQL in batches of 10,000 rows, so a large outbox is not rewritten in one transaction
 * (found through deliveries_platform_event, which holds the nulls). SQLite has no UPDATE ... LIMIT.
 */
async function fillEventTenant(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'mysql2') {
    await knex('deliveries').whereNull('event_tenant_id').update({ event_tenant_id: knex.ref('tenant_id') });
    return;
  }
  for (;;) {
    const [result] = (await knex.raw(
      'UPDATE deliveries SET event_tenant_id = tenant_id WHERE event_tenant_id IS NULL LIMIT 10000',
    )) as [{ affectedRows: number }];
    if (result.affectedRows === 0) return;
  }
}

/** Done when `from` is gone (MySQL renames in one statement). */
async function renameIndex(knex: Knex, from: string, to: string): Promise<void> {
  if (knex.client.config.client === 'mysql2') {
    if (await hasIndex(knex, 'deliveries', from)) await knex.raw('ALTER TABLE deliveries RENAME INDEX ?? TO ??', [from, to]);
    return;
  }
  // SQLite cannot rename an index: build the new one, then drop the old.
  await addIndexStep(knex, 'deliveries', to, ['event_tenant_id', 'event_id']);
  await dropIndexStep(knex, 'deliveries', from, ['event_tenant_id', 'event_id']);
}

/**
 * The same name over other columns. MySQL swaps them in one ALTER, so no claim runs without it.
 * Done when the index already has the new columns.
 */
async function replaceIndex(knex: Knex, name: string, from: string[], to: string[]): Promise<void> {
  const now = await indexColumns(knex, 'deliveries', name);
  if (now.join() === to.join()) return;
  if (knex.client.config.client === 'mysql2') {
    const drop = now.length > 0 ? 'DROP INDEX ??, ' : '';
    const names = now.length > 0 ? [name, name] : [name];
    await knex.raw(`ALTER TABLE deliveries ${drop}ADD INDEX ?? (${to.map(() => '??').join(', ')})`, [...names, ...to]);
    return;
  }
  await dropIndexStep(knex, 'deliveries', name, from);
  await addIndexStep(knex, 'deliveries', name, to);
}
