/**
 * Key rotation, second half: re-seals every webhook's signing secret (and each previous secret
 * it keeps, during rotation overlaps) under the newest encryption key, so the old key can be
 * dropped.
 *
 * The operator first configures `WEBHOOKS_ENCRYPTION_KEY=new,old` (the first key seals, every key
 * opens) on every replica, runs this, then removes the old key. Rows go in small batches, each
 * row in its own fenced UPDATE, so nothing holds locks for long and the sidecar keeps running
 * meanwhile: a row whose secret changed since it was read (RotateWebhookSecret, or another run of
 * this) is left as it is, since whoever changed it sealed it under the newest key already.
 */
import type { Knex } from 'knex';
import { SECRET_COLUMNS, whereSecretsAre, type SecretRow } from '../management/webhook-store';
import { secretContext } from '../management/webhooks';
import { previousSecretColumns, previousSecretsOf } from './previous-secrets';
import type { SecretBox } from './secret-box';

/** Rows read per batch. */
export const REENCRYPT_BATCH = 100;

type Row = SecretRow & { id: string; tenant_id: string };

/**
 * Returns how many webhooks had a secret re-sealed. Throws (changing nothing more) when a secret
 * does not open with the configured keys: a key that is still needed is missing.
 */
export async function reencryptSecrets(db: Knex, box: SecretBox, batchSize = REENCRYPT_BATCH): Promise<number> {
  let resealed = 0;
  let after = '';
  for (;;) {
    const rows = (await db('webhooks')
      .select('id', 'tenant_id', ...SECRET_COLUMNS)
      .where('id', '>', after)
      .orderBy('id')
      .limit(batchSize)) as Row[];
    for (const row of rows) {
      if (await resealRow(db, box, row)) resealed += 1;
    }
    if (rows.length < batchSize) return resealed;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * Every secret the row keeps, expired previous ones too: a secret left under the old key would
 * not open once that key is gone, and a reader that failed on it would fail the whole row.
 */
async function resealRow(db: Knex, box: SecretBox, row: Row): Promise<boolean> {
  const context = secretContext(row.tenant_id, row.id);
  const reseal = (sealed: string): string => box.reseal(sealed, context);
  const current = reseal(row.secret_sealed);
  const previous = previousSecretsOf(row).map((s) => ({ ...s, sealed: reseal(s.sealed) }));
  const columns = previousSecretColumns(previous);
  const same = current === row.secret_sealed && columns.previous_secret_sealed === row.previous_secret_sealed && columns.older_secrets_sealed === row.older_secrets_sealed;
  if (same) return false;
  const query = whereSecretsAre(db('webhooks').where({ id: row.id, tenant_id: row.tenant_id }), row);
  return (await query.update({ secret_sealed: current, ...columns })) > 0;
}
