/**
 * The secrets that rotations replaced and that still sign beside the current one, each until its
 * own overlap window ends (Svix keeps older secrets the same way): a second rotation inside the
 * window must not break the promise the first one's response made.
 *
 * Stored in two places, newest first. The newest previous secret stays in
 * previous_secret_sealed / previous_secret_expires_at, where versions before the
 * older_secrets_sealed migration read it, so their pods keep signing with it during a rolling
 * update; the older ones are in older_secrets_sealed, a JSON array of {sealed, expiresAt}. Each
 * secret is sealed on its own, with the row's associated data, like the current one.
 */

/**
 * Previous secrets kept at most: a sixth rotation inside the window drops the oldest. It bounds
 * the row and the `webhook-signature` header (one HMAC per secret on every attempt).
 */
export const MAX_PREVIOUS_SECRETS = 5;

export interface PreviousSecret {
  readonly sealed: string;
  /** Ms since the epoch: from then on it no longer signs. */
  readonly expiresAt: number;
}

export interface PreviousSecretColumns {
  previous_secret_sealed: string | null;
  previous_secret_expires_at: number | string | null;
  older_secrets_sealed: string | null;
}

export const PREVIOUS_SECRET_COLUMNS = ['previous_secret_sealed', 'previous_secret_expires_at', 'older_secrets_sealed'] as const;

/** The secrets older than the newest previous one, as stored: malformed text throws. */
export function parseOlderSecrets(text: string | null): PreviousSecret[] {
  if (text === null || text === '') return [];
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed)) throw new Error('older_secrets_sealed is not a list');
  return parsed.map((item: unknown) => {
    const { sealed, expiresAt } = (item ?? {}) as Record<string, unknown>;
    if (typeof sealed !== 'string' || typeof expiresAt !== 'number') throw new Error('older_secrets_sealed holds a malformed entry');
    return { sealed, expiresAt };
  });
}

/** Every previous secret a row holds, expired ones included, newest first. */
export function previousSecretsOf(row: PreviousSecretColumns): PreviousSecret[] {
  const older = parseOlderSecrets(row.older_secrets_sealed);
  // No version writes a previous secret without an expiry; if one did, it would never sign.
  if (row.previous_secret_sealed === null || row.previous_secret_expires_at === null) return older;
  return [{ sealed: row.previous_secret_sealed, expiresAt: Number(row.previous_secret_expires_at) }, ...older];
}

/** The columns that store these secrets (newest first). */
export function previousSecretColumns(secrets: readonly PreviousSecret[]): PreviousSecretColumns {
  const [newest, ...older] = secrets;
  return {
    previous_secret_sealed: newest?.sealed ?? null,
    previous_secret_expires_at: newest?.expiresAt ?? null,
    older_secrets_sealed: older.length === 0 ? null : JSON.stringify(older.map(({ sealed, expiresAt }) => ({ sealed, expiresAt }))),
  };
}

export function activeAt(secrets: readonly PreviousSecret[], now: number): PreviousSecret[] {
  return secrets.filter((s) => s.expiresAt > now);
}

/**
 * The previous secrets after a rotation at `now`: the replaced one (null when the overlap is 0)
 * first, then those still active, at most MAX_PREVIOUS_SECRETS. Expired ones are pruned here.
 */
export function afterRotation(secrets: readonly PreviousSecret[], replaced: PreviousSecret | null, now: number): PreviousSecret[] {
  const kept = activeAt(secrets, now);
  return (replaced === null ? kept : [replaced, ...kept]).slice(0, MAX_PREVIOUS_SECRETS);
}
