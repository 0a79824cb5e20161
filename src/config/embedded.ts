/**
 * Embedded mode (`sqlite:`) must start with no set-up, so the tokens and the encryption key that
 * MySQL mode requires are generated on the first start and kept in the data folder
 * (credentials.json, mode 0600) for the next ones. Values given in the environment win.
 *
 * The stored key is the one that sealed whatever was sealed before an environment key was set,
 * or after it was removed: so it is written as the key actually in use on the first start (the
 * environment's sealing key if one is given, else a generated one), and every later start accepts
 * it for opening, after the configured keys. Setting or dropping WEBHOOKS_ENCRYPTION_KEY then never
 * strands the secrets sealed before.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './env-reader';
import type { PartialSecrets, Tokens } from './config';
import type { DbTarget } from './db-url';

export interface FilledSecrets {
  tokens: Tokens;
  encryptionKeys: Buffer[];
  /**
   * Set when this start generated tokens that are in use: where they are kept, and only those
   * tokens, to print once. A token given in the environment is the operator's secret and is
   * never echoed.
   */
  generated: { file: string; tokens: Partial<Tokens> } | undefined;
}

interface StoredCredentials {
  ingestToken: string;
  adminToken: string;
  platformToken: string;
  encryptionKey: string;
}

export function fillSecrets(db: DbTarget, given: PartialSecrets): FilledSecrets {
  if (db.kind === 'mysql') return requireSecrets(given);
  const file = path.join(db.dataDir, 'credentials.json');
  const stored = readStored(file);
  const creds: StoredCredentials = stored ?? {
    ingestToken: newToken('ing'),
    adminToken: newToken('adm'),
    platformToken: newToken('plt'),
    encryptionKey: (given.encryptionKeys[0] ?? randomBytes(32)).toString('base64'),
  };
  if (!stored) writeStored(file, creds);
  const tokens: Tokens = {
    ingest: given.tokens.ingest ?? creds.ingestToken,
    admin: given.tokens.admin ?? creds.adminToken,
    platform: given.tokens.platform ?? creds.platformToken,
  };
  const encryptionKeys = withStoredKey(given.encryptionKeys, Buffer.from(creds.encryptionKey, 'base64'));
  return { tokens, encryptionKeys, generated: stored ? undefined : generatedInUse(file, given, tokens) };
}

/** The configured keys first (the first one seals), then the stored one, to open what it sealed. */
function withStoredKey(configured: readonly Buffer[], stored: Buffer): Buffer[] {
  return configured.some((key) => key.equals(stored)) ? [...configured] : [...configured, stored];
}

function generatedInUse(file: string, given: PartialSecrets, tokens: Tokens): FilledSecrets['generated'] {
  const shown: Partial<Tokens> = {
    ...(given.tokens.ingest === undefined && { ingest: tokens.ingest }),
    ...(given.tokens.admin === undefined && { admin: tokens.admin }),
    ...(given.tokens.platform === undefined && { platform: tokens.platform }),
  };
  return Object.keys(shown).length > 0 ? { file, tokens: shown } : undefined;
}

function requireSecrets(given: PartialSecrets): FilledSecrets {
  const { ingest, admin, platform } = given.tokens;
  if (ingest === undefined) throw missing('WEBHOOKS_INGEST_TOKEN');
  if (admin === undefined) throw missing('WEBHOOKS_ADMIN_TOKEN');
  if (given.encryptionKeys.length === 0) throw missing('WEBHOOKS_ENCRYPTION_KEY');
  return {
    tokens: { ingest, admin, platform },
    encryptionKeys: [...given.encryptionKeys],
    generated: undefined,
  };
}

function missing(name: string): ConfigError {
  return new ConfigError(`${name}: is required when WEBHOOKS_DB_URL is a mysql:// URL`);
}

function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

function readStored(file: string): StoredCredentials | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`WEBHOOKS_DB_URL: cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: Partial<StoredCredentials>;
  try {
    parsed = (JSON.parse(text) ?? {}) as Partial<StoredCredentials>;
  } catch {
    throw new ConfigError(`WEBHOOKS_DB_URL: ${file} is not valid JSON; move it away`);
  }
  const complete =
    typeof parsed.ingestToken === 'string' &&
    typeof parsed.adminToken === 'string' &&
    typeof parsed.platformToken === 'string' &&
    typeof parsed.encryptionKey === 'string' &&
    // Every start opens with it, so a damaged key must stop the start here, naming the file.
    Buffer.from(parsed.encryptionKey, 'base64').length === 32;
  if (!complete) throw new ConfigError(`WEBHOOKS_DB_URL: ${file} is incomplete; move it away`);
  return parsed as StoredCredentials;
}

function writeStored(file: string, creds: StoredCredentials): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // 'wx' so two processes starting at once cannot overwrite each other's credentials.
  fs.writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
}
