/**
 * Nothing leaks, on each database: a run at trace level with failed and refused deliveries,
 * timeouts, undecryptable secrets, bad input, wrong tokens, secret rotations and an encryption-key
 * rotation, logged to memory; no log line and no error sent to a client holds a signing secret,
 * a token, the encryption key, a password from a URL, or a value from an event's data.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { reencryptSecrets } from '../../src/security/reencrypt';
import { SecretBox } from '../../src/security/secret-box';
import { createLogger } from '../../src/telemetry/logger';
import { ALLOWED_CIDRS, setTrap, type Trap } from '../support/canary';
import { forEachDatabase } from '../support/databases';
import { secretForms } from '../support/dump';
import { FakeDns } from '../support/fake-dns';
import { metadataOf, promised } from '../support/grpc-clients';
import { MemoryLog } from '../support/memory-log';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

forEachDatabase('nothing leaks into logs or errors', (database) => {
  const mark = `pii-${randomBytes(6).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const wrongToken = `wrong-${randomBytes(12).toString('hex')}`;
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  let env: Env;
  let dbUrl: string;
  let sidecar: TestSidecar;
  let log: MemoryLog;
  let trap: Trap;
  let failing: TestReceiver;
  const secrets: string[] = [];
  const errors: ServiceError[] = [];

  before(async () => {
    log = new MemoryLog();
    trap = await setTrap();
    failing = await TestReceiver.start('127.0.0.2');
    failing.respondWith(() => ({ status: 500, body: 'upstream broke' }));
    env = {
      WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_ENCRYPTION_KEY: oldKey.toString('base64'),
      WEBHOOKS_ALLOWED_CIDRS: ALLOWED_CIDRS,
      WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}`,
      WEBHOOKS_MAX_RETRIES: '1',
      WEBHOOKS_RETRY_BASE_MS: '50',
      WEBHOOKS_LOG_LEVEL: 'trace',
    };
    dbUrl = await database.create();
    sidecar = await startSidecar(dbUrl, env, parts());
  });

  const parts = () => ({ logger: createLogger('trace', log), resolver: new FakeDns().set('internal.attacker.example', ['127.0.0.1']).resolver });

  after(async () => {
    await sidecar.stop();
    await trap.close();
    await failing.close();
  });

  const refused = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.fail('the call was expected to fail'),
      (err: ServiceError) => void errors.push(err),
    );
  const hook = (url: string, eventTypes = ['*']) => ({ url, eventTypes, description: '', organizationIds: [] });
  const data = { user_id: mark, email: `${mark}@example.com`, note: { nested: mark }, reason: 'invalid_credentials' };

  it('runs failures, bad input, rotations and refusals', async () => {
    const a = () => sidecar.admin('tenant-a');
    const created = [
      await a().createWebhook(hook(trap.receiver.url)),
      await a().createWebhook(hook(failing.url)),
      await a().createWebhook(hook(`http://internal.attacker.example:${trap.port}/hooks`)),
      await sidecar.platform().createWebhook(hook(failing.url, ['user.login_failed'])),
      await sidecar.admin('tenant-b').createWebhook(hook(trap.receiver.url)),
    ];
    secrets.push(...created.map((c) => c.secret));
    for (const c of created.slice(0, 2)) secrets.push((await a().rotateWebhookSecret({ id: c.webhook!.id })).secret);
    secrets.push((await sidecar.admin('tenant-b').createWebhook(hook(failing.url))).secret);

    // An encryption-key rotation: restart with the new key first, re-seal, go on.
    await sidecar.stop();
    sidecar = await startSidecar(dbUrl, { ...env, WEBHOOKS_ENCRYPTION_KEY: `${newKey.toString('base64')},${oldKey.toString('base64')}` }, parts());
    const db = sidecar.app.db;
    expect(await reencryptSecrets(db, new SecretBox([newKey, oldKey]))).to.equal(6);
    // tenant-b's webhooks get one ciphertext twice: one of its attempts fails as `internal`.
    const rows = (await db('webhooks').where('tenant_id', 'tenant-b').select('id', 'secret_sealed')) as Array<{ id: string; secret_sealed: string }>;
    await db('webhooks').where({ id: rows[0]!.id }).update({ secret_sealed: rows[1]!.secret_sealed });

    for (const [tenantId, type] of [['tenant-a', 'user.login'], ['tenant-b', 'user.login_failed'], ['tenant-a', 'user.login_failed']]) {
      await sidecar.ingest.publishEvent({ event: { id: '', tenantId, type, occurredAt: undefined, organizationId: '', data } });
    }
    await a().sendTestEvent({ webhookId: created[0]!.webhook!.id, data: { probe: mark } });

    // Bad input that carries the marked values, and calls with the wrong credentials.
    await refused(sidecar.ingest.publishEvent({ event: { id: '', tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { email: mark } } }));
    await refused(sidecar.ingest.publishEvent({ event: { id: '', tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 7, mark } } }));
    await refused(sidecar.ingest.publishEvent({ event: { id: '', tenantId: 'tenant-a', type: 'user.login_failed', occurredAt: undefined, organizationId: '', data: { reason: mark } } }));
    await refused(sidecar.ingest.publishEvent({ event: { id: '', tenantId: 'tenant-a', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u', ip_address: mark } } }));
    await refused(a().createWebhook(hook(`https://ops:${password}@hooks.example.com/in`)));
    await refused(a().createWebhook(hook(`http://${password}.localhost/`)));
    await refused(promised(sidecar.managementClient, metadataOf(wrongToken, 'tenant-a')).listWebhooks({ pageSize: 0, pageToken: '' }));
    await refused(promised(sidecar.ingestClient, metadataOf(sidecar.config.tokens.admin)).publishEvent({ event: undefined }));
    await refused(promised(sidecar.managementClient, metadataOf(sidecar.config.tokens.ingest, 'tenant-a')).listWebhooks({ pageSize: 0, pageToken: '' }));

    await waitUntil(async () => Number(((await db('deliveries').where('status', 'pending').count({ n: '*' }).first()) as { n: number | string }).n) === 0, 'every delivery to end', 20_000);
  });

  it('logged what happened (so the absence below means something)', () => {
    const text = log.text;
    expect(log.lines.length).to.be.greaterThan(20);
    for (const msg of ['attempt failed', 'attempt succeeded', 'webhooks sidecar started']) expect(text).to.include(msg);
    expect(text).to.include('destination_refused').and.include('internal').and.include('http_status');
    expect(errors).to.have.length(9);
  });

  it('has no secret, token, key, URL password or data value in any log line or error', () => {
    const { tokens } = sidecar.config;
    const forbidden: Array<[string, string]> = [
      ...secrets.flatMap((s) => secretForms(s).map((f): [string, string] => ['a signing secret', f])),
      ['the ingest token', tokens.ingest],
      ['the admin token', tokens.admin],
      ['the platform token', tokens.platform!],
      ['a presented wrong token', wrongToken],
      ...[oldKey, newKey].flatMap((k): Array<[string, string]> => [['an encryption key', k.toString('base64')], ['an encryption key', k.toString('hex')]]),
      ['a password from a URL', password],
      ['a value from event data', mark],
    ];
    const errorText = errors.map((e) => `${e.message}\n${e.details}\n${JSON.stringify(e.metadata.getMap())}`).join('\n');
    for (const [what, value] of forbidden) {
      const line = log.lines.find((l) => l.includes(value));
      expect(line, `${what} in the log: ${line?.slice(0, 300)}`).to.equal(undefined);
      expect(errorText.includes(value), `${what} in an error sent to a client`).to.equal(false);
    }
  });
});
