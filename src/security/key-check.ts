/**
 * At start, after the migrations and before serving: every signing secret the webhooks table
 * keeps (current and previous) must be sealed under a configured key. Without this check a start
 * that lacks a key (an embedded data folder started with a different key, a rotation's OLD key
 * dropped before `db reencrypt-secrets`) serves as if all were well, then fails every attempt of
 * the affected webhooks with error class `internal`.
 *
 * The key id is the second part of the sealed text (`v1.<key id>.…`, see secret-box.ts), so the
 * current and newest previous secrets are checked by one COUNT over a prefix of their columns: a
 * scan of the webhooks table, which is small (at most 100 webhooks a tenant), and no secret leaves
 * the database. Only rows keeping older previous secrets (a second rotation inside the overlap
 * window) are read, in batches, and their JSON parsed.
 */
import type { Knex } from 'knex';
import { ConfigError } from '../config/env-reader';
import { parseOlderSecrets } from './previous-secrets';
import { keyIdOf } from './secret-box';

/** `v1.` and the 8 hex digits of the key id, and the dot after them. */
const PREFIX_CHARS = 12;
const BATCH = 500;
/** Key ids named in the message at most: enough to tell which key is missing. */
const IDS_SHOWN = 5;

/** Throws a ConfigError naming WEBHOOKS_ENCRYPTION_KEY when a stored secret needs a key not in `keys`. */
export async function checkSealingKeys(db: Knex, keys: readonly Buffer[]): Promise<void> {
  const prefixes = keys.map((key) => `v1.${keyIdOf(key)}.`);
  const known = (sealed: string): boolean => prefixes.includes(sealed.slice(0, PREFIX_CHARS));
  const notIn = `substr(??, 1, ${PREFIX_CHARS}) not in (${prefixes.map(() => '?').join(', ')})`;
  // True when the current or the newest previous secret is under a key that is not configured.
  const stranded = (q: Knex.QueryBuilder): Knex.QueryBuilder =>
    q
      .whereRaw(notIn, ['secret_sealed', ...prefixes])
      .orWhere((p) => p.whereNotNull('previous_secret_sealed').andWhereRaw(notIn, ['previous_secret_sealed', ...prefixes]));
  const counted = (await db('webhooks').where(stranded).count({ n: '*' }).first()) as { n: number | string };
  let affected = Number(counted.n);
  const missing = new Set<string>();
  if (affected > 0) {
    const sample = (await db('webhooks').where(stranded).select('secret_sealed', 'previous_secret_sealed').limit(IDS_SHOWN)) as Array<Record<string, string | null>>;
    for (const row of sample) {
      for (const sealed of [row.secret_sealed, row.previous_secret_sealed]) if (sealed && !known(sealed)) missing.add(keyIdPart(sealed));
    }
  }
  let after = '';
  for (;;) {
    const rows = (await db('webhooks')
      .select('id', 'older_secrets_sealed')
      .whereNotNull('older_secrets_sealed')
      .whereNot(stranded)
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)) as Array<{ id: string; older_secrets_sealed: string }>;
    for (const row of rows) {
      const unknown = parseOlderSecrets(row.older_secrets_sealed).filter((s) => !known(s.sealed));
      if (unknown.length > 0) affected += 1;
      for (const s of unknown) missing.add(keyIdPart(s.sealed));
    }
    if (rows.length < BATCH) break;
    after = rows[rows.length - 1]!.id;
  }
  if (affected > 0) throw strandedError(affected, [...missing].slice(0, IDS_SHOWN));
}

function keyIdPart(sealed: string): string {
  return sealed.split('.')[1] ?? '?';
}

function strandedError(affected: number, keyIds: string[]): ConfigError {
  const webhooks = affected === 1 ? '1 webhook' : `${affected} webhooks`;
  return new ConfigError(
    `WEBHOOKS_ENCRYPTION_KEY: the signing secrets of ${webhooks} are sealed under a key that is not configured ` +
      `(key id ${keyIds.join(', ')}: the first 8 hex digits of the key's SHA-256). Add that key after the one that seals ` +
      '(WEBHOOKS_ENCRYPTION_KEY=NEW,OLD), and drop it only after `db reencrypt-secrets`: see "Rotating the encryption key" in the README',
  );
}
