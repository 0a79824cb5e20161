/**
 * Encryption-key rotation, on each database: with `WEBHOOKS_ENCRYPTION_KEY=new,old`,
 * reencryptSecrets re-seals every secret (and every previous secret) under the new key in small
 * batches; once it has run, the old key can go and every webhook still delivers, signed with the
 * secrets the tenants hold. Before it has run, a start without the old key is refused (the
 * control that shows the old key was needed). And MySQL mode refuses to start without a key.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, type Env } from '../../src/config/config';
import { parseOlderSecrets } from '../../src/security/previous-secrets';
import { reencryptSecrets } from '../../src/security/reencrypt';
import { keyIdOf, SecretBox } from '../../src/security/secret-box';
import { forEachDatabase, MYSQL_URL, replaceStoredKey } from '../support/databases';
import { MAIN } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { signedWith } from '../support/signatures';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-keys';
const hook = (url: string) => ({ url, eventTypes: ['user.login'], description: '', organizationIds: [] });


forEachDatabase('encryption key rotation', (database) => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const shared: Env = {
    WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_MAX_RETRIES: '0',
  };
  const withKeys = (...keys: Buffer[]): Env => ({ ...shared, WEBHOOKS_ENCRYPTION_KEY: keys.map((k) => k.toString('base64')).join(',') });
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver;
  let seq = 0;

  beforeEach(async () => (receiver = await TestReceiver.start()));
  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver.close();
  });

  async function restart(dbUrl: string, env: Env): Promise<TestSidecar> {
    await sidecar?.stop();
    return (sidecar = await startSidecar(dbUrl, env));
  }

  /** One event to every webhook; resolves with the error class of each attempt it made. */
  async function publishAndWait(webhooks: number): Promise<Array<string | null>> {
    const db = sidecar!.app.db;
    const before = Number(((await db('delivery_attempts').count({ n: '*' }).first()) as { n: number | string }).n);
    await sidecar!.ingest.publishEvent({ event: { id: `evt-${++seq}`, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    let rows: Array<{ error_class: string | null }> = [];
    await waitUntil(async () => {
      rows = (await db('delivery_attempts').select('error_class').orderBy('id').offset(before).limit(1000)) as typeof rows;
      return rows.length === webhooks;
    }, `${webhooks} attempts`);
    return rows.map((r) => r.error_class);
  }

  async function sealedKeyIds(): Promise<string[]> {
    const rows = (await sidecar!.app.db('webhooks').select('secret_sealed', 'previous_secret_sealed', 'older_secrets_sealed').orderBy('id')) as Array<Record<string, string | null>>;
    const older = (r: Record<string, string | null>) => parseOlderSecrets(r.older_secrets_sealed ?? null).map((s) => s.sealed);
    return rows.flatMap((r) => [r.secret_sealed, r.previous_secret_sealed, ...older(r)]).filter((s): s is string => s !== null).map((s) => s.split('.')[1]!);
  }

  it('re-seals every secret under the newest key; then the old key can go and every webhook still delivers', async () => {
    const dbUrl = await database.create();
    await restart(dbUrl, withKeys(oldKey));
    const admin = () => sidecar!.admin(TENANT);
    const secrets: string[][] = [];
    for (let i = 0; i < 3; i += 1) {
      const { webhook, secret } = await admin().createWebhook(hook(receiver.url));
      const held = [secret];
      // The last one is mid-rotation twice over: its previous secrets, the older one kept in
      // older_secrets_sealed, still sign and must be re-sealed too.
      for (let r = 0; i === 2 && r < 2; r += 1) held.unshift((await admin().rotateWebhookSecret({ id: webhook!.id })).secret);
      secrets.push(held);
    }
    expect(await sealedKeyIds()).to.deep.equal(Array<string>(5).fill(keyIdOf(oldKey)));

    // The control: without the old key nothing opens, so a start with the new key alone is
    // refused: the old key is needed until re-sealing.
    replaceStoredKey(dbUrl);
    const refused = await restart(dbUrl, withKeys(newKey)).catch((err: Error) => err);
    expect(refused).to.be.instanceOf(ConfigError);
    expect((refused as Error).message).to.match(/^WEBHOOKS_ENCRYPTION_KEY: the signing secrets of 3 webhooks are sealed under a key that is not configured/);

    await restart(dbUrl, withKeys(newKey, oldKey));
    const box = new SecretBox([newKey, oldKey]);
    // A batch of 2 makes three webhooks take two batches.
    expect(await reencryptSecrets(sidecar!.app.db, box, 2)).to.equal(3);
    expect(await sealedKeyIds()).to.deep.equal(Array<string>(5).fill(keyIdOf(newKey)));
    expect(await reencryptSecrets(sidecar!.app.db, box), 'a second run has nothing to do').to.equal(0);

    await restart(dbUrl, withKeys(newKey));
    receiver.requests.length = 0;
    expect(await publishAndWait(3)).to.deep.equal([null, null, null]);
    expect(receiver.requests).to.have.length(3);
    // Each request verifies with its own webhook's secrets, the previous one included.
    for (const held of secrets) {
      const matching = receiver.requests.filter((r) => signedWith(held[0]!, r));
      expect(matching, 'requests signed with this secret').to.have.length(1);
      for (const other of held.slice(1)) expect(signedWith(other, matching[0]!), 'a previous secret').to.equal(true);
    }
  });

  it('a secret rotated while both keys are configured keeps its previous secrets under the newest key', async () => {
    const dbUrl = await database.create();
    await restart(dbUrl, withKeys(oldKey));
    const { webhook, secret } = await sidecar!.admin(TENANT).createWebhook(hook(receiver.url));
    const { secret: first } = await sidecar!.admin(TENANT).rotateWebhookSecret({ id: webhook!.id });
    await restart(dbUrl, withKeys(newKey, oldKey));
    const { secret: rotated } = await sidecar!.admin(TENANT).rotateWebhookSecret({ id: webhook!.id });
    // All three under the new key, so dropping the old one needs no re-sealing of this row.
    expect(await sealedKeyIds()).to.deep.equal(Array<string>(3).fill(keyIdOf(newKey)));
    replaceStoredKey(dbUrl);
    await restart(dbUrl, withKeys(newKey));
    receiver.requests.length = 0;
    expect(await publishAndWait(1)).to.deep.equal([null]);
    const signatures = [rotated, first, secret].map((held) => signedWith(held, receiver.requests[0]!));
    expect(signatures, 'signed with all three secrets').to.deep.equal([true, true, true]);
  });

  it('refuses to re-seal, and changes nothing, when a secret does not open with the given keys', async () => {
    const dbUrl = await database.create();
    await restart(dbUrl, withKeys(oldKey));
    await sidecar!.admin(TENANT).createWebhook(hook(receiver.url));
    const before = await sealedKeyIds();
    let failure: Error | undefined;
    await reencryptSecrets(sidecar!.app.db, new SecretBox([newKey])).catch((err: Error) => (failure = err));
    expect(failure?.message).to.match(/unknown encryption key id/);
    expect(await sealedKeyIds()).to.deep.equal(before);
  });
});

describe('MySQL mode without an encryption key', () => {
  it('exits with status 2 before connecting, naming WEBHOOKS_ENCRYPTION_KEY', function () {
    // An address where nothing listens: a process that tried to connect would fail differently.
    const env = {
      PATH: process.env.PATH,
      WEBHOOKS_DB_URL: MYSQL_URL ?? 'mysql://root@127.0.0.1:9/webhooks',
      WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_GRPC_ADDR: '127.0.0.1:0',
      WEBHOOKS_METRICS_ADDR: '127.0.0.1:0',
    };
    const run = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 20_000 });
    expect(run.status, run.stderr).to.equal(2);
    expect(run.stderr).to.include('WEBHOOKS_ENCRYPTION_KEY: is required');
    expect(run.stdout).to.not.include('webhooks sidecar started');
  });
});
