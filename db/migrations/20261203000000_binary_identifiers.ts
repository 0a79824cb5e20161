/**
 * Strings compared byte for byte on MySQL, as SQLite compares them.
 *
 * The tables were created with the server's default collation, utf8mb4_general_ci, which
 * ignores case: "ACME" = "acme". So an admin call for tenant ACME found, changed and deleted
 * tenant acme's webhooks and deliveries, and an event of ACME whose id acme had used already
 * was answered as a duplicate and never delivered (as was acme's "EVT-1" after its "evt-1").
 * Tenant, event, organization and webhook ids are case-sensitive everywhere else in the
 * sidecar (the API, the fan-out, SQLite), so every string column becomes utf8mb4_bin.
 *
 * Converting rebuilds each table; on a large outbox that takes a while, once. It cannot make a
 * unique key conflict: comparing more strictly only tells more strings apart. A table added by a
 * later migration must say `t.collate('utf8mb4_bin')` itself.
 */
import type { Knex } from 'knex';

const TABLES = ['webhooks', 'events', 'deliveries', 'delivery_attempts', 'webhook_stats', 'webhook_stats_hourly'];

export async function up(knex: Knex): Promise<void> {
  await convert(knex, 'utf8mb4_bin');
}

/** Back to case-insensitive: this fails on a unique key if ids that differ only in case were stored meanwhile. */
export async function down(knex: Knex): Promise<void> {
  await convert(knex, 'utf8mb4_general_ci');
}

async function convert(knex: Knex, collation: string): Promise<void> {
  if (knex.client.config.client !== 'mysql2') return; // SQLite compares BINARY by default
  for (const table of TABLES) {
    // Each CONVERT is one statement, committed on its own: a run stopped partway has converted
    // some tables already, and rebuilding them again would only cost time.
    if (await converted(knex, table, collation)) continue;
    await knex.raw(`ALTER TABLE ?? CONVERT TO CHARACTER SET utf8mb4 COLLATE ${collation}`, [table]);
  }
}

/** Whether the table and every string column in it compare by `collation` already. */
async function converted(knex: Knex, table: string, collation: string): Promise<boolean> {
  const [rows] = (await knex.raw(
    `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_COLLATION = ?
      AND NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ?
        AND c.COLLATION_NAME IS NOT NULL AND (c.COLLATION_NAME <> ? OR c.CHARACTER_SET_NAME <> 'utf8mb4'))`,
    [table, collation, table, collation],
  )) as [Array<{ n: number }>];
  return Number(rows[0]?.n) > 0;
}
