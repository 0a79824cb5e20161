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
    const resealed = await withDb(ctx, (db, config) => reencryptSecrets(db, new SecretBox(config.encryptionKeys)));
    if (ctx.out.json) return ctx.out.value({ resealed });
    ctx.out.line(`Re-sealed the secrets of ${resealed} ${resealed === 1 ? 'webhook' : 'webhooks'} under the current key.`);
  },
};

export const dbGroup: Group = {
  name: 'db',
  summary: 'database operations (use the server configuration from the environment)',
  commands: [migrate, reencrypt],
};
