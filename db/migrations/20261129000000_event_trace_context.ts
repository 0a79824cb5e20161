/**
 * events.trace_context: the W3C traceparent of the webhook.ingest span that committed the event
 * (null when tracing was off). Each delivery attempt, however much later, becomes a span in that
 * trace (src/telemetry/delivery-telemetry.ts). A traceparent is 55 characters; the column leaves
 * room for a later version of the format.
 */
import type { Knex } from 'knex';
import { addColumnStep } from '../ddl';

export async function up(knex: Knex): Promise<void> {
  // Skipped when a run stopped before knex recorded it added the column already (db/ddl.ts).
  await addColumnStep(knex, 'events', 'trace_context', (t) => {
    t.string('trace_context', 128).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('events', (t) => {
    t.dropColumn('trace_context');
  });
}
