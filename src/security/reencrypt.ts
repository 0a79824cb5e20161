/**
 * Key rotation, second half: re-seals every webhook's signing secret (and its previous secret,
 * during a rotation overlap) under the newest encryption key, so the old key can be dropped.
 *
 * The operator first configures `WEBHOOKS_ENCRYPTION_KEY=new,old` (the first key seals, every key
 * opens) on every replica, runs this, then removes the old key. Rows go in small batches, each
 * row in its own fenced UPDATE, so nothing holds locks for long and the sidecar keeps running
 * meanwhile: a row whose secret changed since it was read (RotateWebhookSecret, or another run of
 * this) is left as it is, since whoever changed it sealed it under the newest key already.
 */
import type { Knex } from 'knex';
import { secretContext } from '../management/webhooks';
import type { SecretBox } from './secret-box';

/** Rows read per batch. */
export const REENCRYPT_BATCH = 100;

interface SecretRow {
  id: string;
  tenant_id: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
}

/**
 * Returns how many webhooks had a secret re-sealed. Throws (changing nothing more) when a secret
 * does not open with the configured keys: a key that is still needed is missing.
 */
export async function reencryptSecrets(db: Knex, box: SecretBox, batchSize = REENCRYPT_BATCH): Promise<number> {
  let resealed = 0;
  let after = '';
  for (;;) {
    const rows = (await db('webhooks')
      .select('id', 'tenant_id', 'secret_sealed', 'previous_secret_sealed')
      .where('id', '>', after)
      .orderBy('id')
      .limit(batchSize)) as SecretRow[];
    for (const row of rows) {
      if (await resealRow(db, box, row)) resealed += 1;
    }
    if (rows.length < batchSize) return resealed;
    after = rows[rows.length - 1]!.id;
  }
}

async function resealRow(db: Knex, box: SecretBox, row: SecretRow): Promise<boolean> {
  const context = secretContext(row.tenant_id, row.id);
  const reseal = (sealed: string): string => box.reseal(sealed, context);
  const current = reseal(row.secret_sealed);
  const previous = row.previous_secret_sealed === null ? null : reseal(row.previous_secret_sealed);
  if (current === row.secret_sealed && previous === row.previous_secret_sealed) return false;
  const query = db('webhooks').where({ id: row.id, tenant_id: row.tenant_id, secret_sealed: row.secret_sealed });
  if (row.previous_secret_sealed === null) void query.whereNull('previous_secret_sealed');
  else void query.andWhere('previous_secret_sealed', row.previous_secret_sealed);
  return (await query.update({ secret_sealed: current, previous_secret_sealed: previous })) > 0;
}
