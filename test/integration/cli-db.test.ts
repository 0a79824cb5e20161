/**
 * The CLI's database commands on each database, with the server's own configuration from the
 * environment: `db migrate` on a new database and again on a migrated one, and `db
 * reencrypt-secrets` during a key rotation, proven by a sidecar that holds only the new key
 * still signing with the webhook's unchanged secret.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { runCli, runMigrateHook } from '../support/cli';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, testEnv, type TestSidecar } from '../support/sidecar';

const TENANT = 'tenant-cli-db';

forEachDatabase('cli: db migrate and db reencrypt-secrets', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver?.close();
  });

  it('db migrate applies every migration to a new database, then has nothing to do', async function () {
    this.timeout(60_000);
    const env = testEnv(await database.create());
    const first = await runCli(['db', 'migrate', '--json'], env);
    expect(first.code, first.stderr).to.equal(0);
    const { applied } = JSON.parse(first.stdout) as { applied: string[] };
    expect(applied.length).to.be.greaterThan(0);
    expect(applied[0]).to.match(/^\d{14}_.+\.js$/);
    const again = await runCli(['db', 'migrate'], env);
    expect(again).to.include({ code: 0, stdout: 'Already up to date.\n' });
  });

  it('node dist/src/db/migrate-cli.js (the Helm hook) migrates a new database, then has nothing to do', async function () {
    this.timeout(60_000);
    const env = testEnv(await database.create());
    const run = (): Promise<{ stdout: string }> => runMigrateHook(env);
    expect((await run()).stdout).to.match(/^Applied: \d{14}_/);
    expect((await run()).stdout).to.equal('Already up to date.\n');
  });

  it('db reencrypt-secrets re-seals under the first key: a sidecar with only that key signs as before', async function () {
    this.timeout(60_000);
    const dbUrl = await database.create();
    const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    receiver = await TestReceiver.start();
    sidecar = await startSidecar(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: oldKey });
    const created = await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    await sidecar.stop();
    sidecar = undefined;

    // A pod that never restarted after its Secret was edited still has OLD alone: it must say so,
    // not just "0 re-sealed", or the operator drops OLD and no secret opens any more.
    const stale = await runCli(['db', 'reencrypt-secrets'], testEnv(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: oldKey }));
    expect(stale.code, stale.stderr).to.equal(0);
    expect(stale.stdout).to.match(/^WEBHOOKS_ENCRYPTION_KEY holds one key, and every webhook's secret is sealed under it: nothing to re-seal\./);
    expect(stale.stdout).to.include('NEW,OLD');
    const staleJson = await runCli(['db', 'reencrypt-secrets', '--json'], testEnv(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: oldKey }));
    expect(JSON.parse(staleJson.stdout)).to.deep.equal({ resealed: 0, keys: 1 });

    const rotating = testEnv(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: `${newKey},${oldKey}` });
    const first = await runCli(['db', 'reencrypt-secrets'], rotating);
    expect(first).to.include({ code: 0, stdout: 'Re-sealed the secrets of 1 webhook under the current key.\n' });
    const second = await runCli(['db', 'reencrypt-secrets', '--json'], rotating);
    expect(JSON.parse(second.stdout)).to.deep.equal({ resealed: 0, keys: 2 });

    // The old key is gone now: the secret still opens, and signs what the receiver verifies.
    sidecar = await startSidecar(dbUrl, { WEBHOOKS_ENCRYPTION_KEY: newKey });
    await sidecar.ingest.publishEvent({ event: { id: 'evt-rekeyed', tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    const [req] = await receiver.waitForRequests(1);
    const headers = { 'webhook-id': String(req!.headers['webhook-id']), 'webhook-timestamp': String(req!.headers['webhook-timestamp']), 'webhook-signature': String(req!.headers['webhook-signature']) };
    expect(new StandardWebhook(created.secret).verify(req!.body, headers)).to.deep.include({ id: 'evt-rekeyed' });
  });

  it('db commands stop on an invalid configuration with exit code 2, naming the variable', async () => {
    const res = await runCli(['db', 'migrate'], testEnv(await database.create(), { WEBHOOKS_ENCRYPTION_KEY: 'short' }));
    expect(res.code).to.equal(2);
    expect(res.stderr).to.match(/^Invalid configuration: WEBHOOKS_ENCRYPTION_KEY: /);
  });
});
