/**
 * webhooks.older_secrets_sealed: the secrets rotations replaced before the newest previous one,
 * which keep signing until their own overlap windows end (src/security/previous-secrets.ts). A
 * JSON array of {sealed, expiresAt}, newest first, at most four (five previous secrets in all);
 * each secret sealed on its own, like secret_sealed. Null when there are none.
 *
 * The existing single previous secret is already the head of that list: it stays in
 * previous_secret_sealed / previous_secret_expires_at, where the version before this one reads
 * it, so nothing is copied and that version's pods keep signing with it during a rolling update
 * (they do not see the older secrets, and their rotations end the newest previous one, as they
 * always did). A nullable column is added in place on both databases, without a table rebuild.
 */
import type { Knex } from 'knex';
import { addColumnStep, dropColumnStep } from '../ddl';

// Only if not made yet: MySQL keeps the steps of a run stopped partway (db/ddl.ts).
export async function up(knex: Knex): Promise<void> {
  await addColumnStep(knex, 'webhooks', 'older_secrets_sealed', (t) => {
    t.text('older_secrets_sealed').nullable();
  });
}

/** The older secrets stop signing; the newest previous one keeps its window. */
export async function down(knex: Knex): Promise<void> {
  await dropColumnStep(knex, 'webhooks', 'older_secrets_sealed');
}
