/**
 * The start-up check of the encryption keys, on each database: a start whose keys cannot open
 * every stored signing secret (current, previous and older previous ones) stops before serving,
 * naming WEBHOOKS_ENCRYPTION_KEY and how many webhooks are affected; the rotation's NEW,OLD starts.
 * And embedded mode's key in credentials.json: setting or dropping WEBHOOKS_ENCRYPTION_KEY never
 * strands the secrets sealed before, and a data folder an older version left with an unused key
 * stops the process (status 2) instead of failing every attempt.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { ConfigError } from '../../src/config/env-reader';
import { secretContext } from '../../src/management/webhooks';
import { keyIdOf, SecretBox } from '../../src/security/secret-box';
import { forEachDatabase, replaceStoredKey, testDatabases } from '../support/databases';
import { MAIN } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { startSidecar, testEnv, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-key-check';
const hook = (url: string) => ({ url, eventTypes: ['user.login'], description: '', organizationIds: [] });
const b64 = (...keys: Buffer[]): string => keys.map((k) => k.toString('base64')).join(',');

/** The error a start fails with (undefined: it started, and is stopped again). */
async function startFailure(dbUrl: string, env: Env): Promise<Error | undefined> {
  try {
    await (await startSidecar(dbUrl, env)).stop();
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** Publishes one event to the tenant's one webhook; resolves with the attempt's error class. */
async function deliverOne(sidecar: TestSidecar, eventId: string): Promise<string | null> {
  await sidecar.ingest.publishEvent({ event: { id: eventId, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
  let rows: Array<{ error_class: string | null }> = [];
  await waitUntil(async () => {
    rows = (await sidecar.app.db('delivery_attempts as a').join('deliveries as d', 'd.id', 'a.delivery_id').where('d.event_id', eventId).select('a.error_class')) as typeof rows;
    return rows.length === 1;
  }, `an attempt for ${eventId}`);
  return rows[0]!.error_class;
}

forEachDatabase('encryption keys checked at start', (database) => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  let receiver: TestReceiver;

  beforeEach(async () => (receiver = await TestReceiver.start()));
  afterEach(async () => receiver.close());

  it('refuses a start whose keys do not open the stored secrets, and starts with NEW,OLD', async () => {
    const dbUrl = await database.create();
    const first = await startSidecar(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k1) });
    for (let i = 0; i < 2; i += 1) await first.admin(TENANT).createWebhook(hook(receiver.url));
    await first.stop();
    // Embedded mode would also open with k1, stored by the first start.
    replaceStoredKey(dbUrl);

    const refused = await startFailure(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k2) });
    expect(refused).to.be.instanceOf(ConfigError);
    expect(refused!.message).to.match(/^WEBHOOKS_ENCRYPTION_KEY: the signing secrets of 2 webhooks are sealed under a key that is not configured/);
    expect(refused!.message, 'names the missing key by its id').to.include(`key id ${keyIdOf(k1)}`);
    expect(await startFailure(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k2, k1) }), 'NEW,OLD').to.equal(undefined);
  });

  it('counts a webhook whose only stranded secret is an older previous one', async () => {
    const dbUrl = await database.create();
    const sidecar = await startSidecar(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k2) });
    const { webhook } = await sidecar.admin(TENANT).createWebhook(hook(receiver.url));
    for (let r = 0; r < 2; r += 1) await sidecar.admin(TENANT).rotateWebhookSecret({ id: webhook!.id });
    // An older previous secret under k1, as a rotation under k1 left it and re-sealing missed it.
    const older = [{ sealed: new SecretBox([k1]).seal('whsec_older', secretContext(TENANT, webhook!.id)), expiresAt: Date.now() + 60_000 }];
    await sidecar.app.db('webhooks').where({ id: webhook!.id }).update({ older_secrets_sealed: JSON.stringify(older) });
    await sidecar.stop();

    const refused = await startFailure(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k2) });
    expect(refused?.message).to.match(/^WEBHOOKS_ENCRYPTION_KEY: the signing secrets of 1 webhook are sealed/);
    expect(await startFailure(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(k2, k1) }), 'NEW,OLD').to.equal(undefined);
  });
});

describe('embedded mode: the key in the data folder [sqlite]', () => {
  const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;
  const noKey: Env = { WEBHOOKS_ENCRYPTION_KEY: '' };
  let receiver: TestReceiver;
  let sidecar: TestSidecar | undefined;

  beforeEach(async () => (receiver = await TestReceiver.start()));
  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver.close();
  });
  after(() => sqlite.dropAll());

  /** Starts, creates the tenant's webhook, stops; then starts with `later` and delivers one event. */
  async function createThenDeliver(first: Env, later: Env): Promise<string | null> {
    const dbUrl = await sqlite.create();
    const tokens = { WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`, WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}` };
    const creating = await startSidecar(dbUrl, { ...tokens, ...first });
    await creating.admin(TENANT).createWebhook(hook(receiver.url));
    await creating.stop();
    sidecar = await startSidecar(dbUrl, { ...tokens, ...later, WEBHOOKS_MAX_RETRIES: '0' });
    return deliverOne(sidecar, `evt-${randomBytes(4).toString('hex')}`);
  }

  it('a secret sealed under WEBHOOKS_ENCRYPTION_KEY still opens once the variable is gone', async () => {
    expect(await createThenDeliver({ WEBHOOKS_ENCRYPTION_KEY: b64(randomBytes(32)) }, noKey)).to.equal(null);
  });

  it('a secret sealed under the generated key still opens once a new key is set alone', async () => {
    expect(await createThenDeliver(noKey, { WEBHOOKS_ENCRYPTION_KEY: b64(randomBytes(32)) })).to.equal(null);
  });

  it('stops the process with status 2 when the stored key never sealed the secrets (an older version\'s folder)', async function () {
    this.timeout(30_000);
    const dbUrl = await sqlite.create();
    const first = await startSidecar(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: b64(randomBytes(32)) });
    await first.admin(TENANT).createWebhook(hook(receiver.url));
    await first.stop();
    replaceStoredKey(dbUrl);
    const env = { ...testEnv(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: '' }), PATH: process.env.PATH };
    const run = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(run.status, run.stderr).to.equal(2);
    expect(run.stderr).to.match(/^Invalid configuration: WEBHOOKS_ENCRYPTION_KEY: the signing secrets of 1 webhook are sealed/m);
    expect(run.stdout).to.not.include('webhooks sidecar started');
  });
});
