/**
 * Event bodies in their own table, in the order they arrive.
 *
 * The events table is clustered on its dedupe key (tenant_id, id), and the identity core's event
 * ids are its own: UUIDs, or anything else that does not grow with time. So every ~1 KB row went
 * into the middle of the table, and once the table outgrew InnoDB's buffer pool each insert read
 * a page from disk. Measured with plain mysql2 batches of 100 UUID-keyed events (fan-out 3, four
 * connections, a 128 MB buffer pool): 600,000 events took 131 s with the body in events (about
 * 2.0 page reads per event at the end) and 97 s with it here (1.4 reads).
 *
 * event_payloads is keyed by payload_id, a ULID made when the event is written, so its rows are
 * appended. With WEBHOOKS_EVENT_BODIES=separate, events keeps only the small columns the dedupe
 * and the history read, and names its body by payload_id. By default, and in every row written
 * before this migration or by an earlier version, the body stays in events.payload with
 * payload_id null; the claim reads either. Nothing is copied: old bodies leave with retention.
 * (The default stays, because earlier versions read events.payload only: see the README's
 * upgrade notes.)
 *
 * Making events.payload nullable rebuilds the events table once on MySQL.
 */
import type { Knex } from 'knex';
import { addColumnStep, createTableSteps, isNullable } from '../ddl';

const mysql = (knex: Knex) => knex.client.config.client === 'mysql2';

export async function up(knex: Knex): Promise<void> {
  // Three statements on MySQL, each committed on its own: each is made only if a run stopped
  // partway did not make it already (db/ddl.ts).
  await createTableSteps(knex, 'event_payloads', (t) => {
    if (mysql(knex)) t.collate('utf8mb4_bin');
    t.string('id', 32).notNullable().primary();
    if (mysql(knex)) t.specificType('payload', 'MEDIUMTEXT').notNullable();
    else t.text('payload').notNullable();
    // The W3C traceparent of the ingest span (see the event_trace_context migration).
    t.string('trace_context', 128).nullable();
  });
  await addColumnStep(knex, 'events', 'payload_id', (t) => {
    t.string('payload_id', 32).nullable();
  });
  if (await isNullable(knex, 'events', 'payload')) return;
  await knex.schema.alterTable('events', (t) => {
    if (mysql(knex)) t.specificType('payload', 'MEDIUMTEXT').nullable().alter();
    else t.text('payload').nullable().alter();
  });
}

/** Bodies go back into events (in batches on MySQL), then the table goes. */
export async function down(knex: Knex): Promise<void> {
  const copy = `UPDATE events SET payload = (SELECT p.payload FROM event_payloads p WHERE p.id = events.payload_id),
    trace_context = (SELECT p.trace_context FROM event_payloads p WHERE p.id = events.payload_id),
    payload_id = NULL
    WHERE payload_id IS NOT NULL`;
  if (mysql(knex)) {
    for (;;) {
      const [result] = (await knex.raw(`${copy} LIMIT 10000`)) as [{ affectedRows: number }];
      if (result.affectedRows === 0) break;
    }
  } else {
    await knex.raw(copy);
  }
  await knex.schema.alterTable('events', (t) => {
    t.dropColumn('payload_id');
    if (mysql(knex)) t.specificType('payload', 'MEDIUMTEXT').notNullable().alter();
    else t.text('payload').notNullable().alter();
  });
  await knex.schema.dropTable('event_payloads');
}
