/**
 * `webhooks-sidecar db ...`: what runs next to the database rather than through the gRPC API.
 * These read the server's own configuration (WEBHOOKS_DB_URL, WEBHOOKS_ENCRYPTION_KEY, ...), so
 * they run where the sidecar runs: `kubectl exec`, a Job, or the same shell as `npm start`.
 */
import { loadConfig, type Config } from '../config';
import { connect, type Db } from '../db/connect';
import { migrateLatest, newerNote } from '../db/migrate';
import { reencryptSecrets } from '../security/reencrypt';
import { SecretBox } from '../security/secret-box';
import { noPositionals } from './args';
import type { Command, Context, Group } from './command';

async function withDb<T>(ctx: Context, fn: (db: Db, config: Config) => Promise<T>): Promise<T> {
  const { config } = loadConfig(ctx.io.env);
  // Two connections: `migrate` on MySQL holds its GET_LOCK on one and migrates on the other.
  const db = connect(config.db, { poolMax: 2 });
  try {
    return await fn(db, config);
  } finally {
    await db.destroy();
  }
}

const migrate: Command = {
  name: 'migrate',
  usage: '',
  summary: 'apply pending migrations (safe beside running replicas: they take turns)',
  async run(ctx) {
    noPositionals(ctx.args);
    const { applied, newer } = await withDb(ctx, (db) => migrateLatest(db));
    if (ctx.out.json) return ctx.out.value({ applied, newer });
    ctx.out.line(applied.length === 0 ? 'Already up to date.' : `Applied: ${applied.join(', ')}`);
    if (newer.length > 0) ctx.out.line(newerNote(newer));
  },
};

const reencrypt: Command = {
  name: 'reencrypt-secrets',
  usage: '',
  summary: 'seal every signing secret under the first WEBHOOKS_ENCRYPTION_KEY, so older keys can be removed',
  async run(ctx) {
    noPositionals(ctx.args);
    const { resealed, keys } = await withDb(ctx, async (db, config) => ({
      resealed: await reencryptSecrets(db, new SecretBox(config.encryptionKeys)),
      keys: config.encryptionKeys.length,
    }));
    if (ctx.out.json) return ctx.out.value({ resealed, keys });
    if (keys === 1) {
      // It succeeded, so every secret opened under this one key; but in a rotation this means the
      // process never got NEW,OLD (a pod reads its Secret only at start), and dropping OLD now
      // would leave no secret that opens.
      ctx.out.line("WEBHOOKS_ENCRYPTION_KEY holds one key, and every webhook's secret is sealed under it: nothing to re-seal.");
      ctx.out.line('In a key rotation, run this where WEBHOOKS_ENCRYPTION_KEY is NEW,OLD (restart the pods after editing their Secret), and keep OLD until then.');
      return;
    }
    ctx.out.line(`Re-sealed the secrets of ${resealed} ${resealed === 1 ? 'webhook' : 'webhooks'} under the current key.`);
  },
};

export const dbGroup: Group = {
  name: 'db',
  summary: 'database operations (use the server configuration from the environment)',
  commands: [migrate, reencrypt],
};
