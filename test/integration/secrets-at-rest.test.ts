/**
 * Signing secrets at rest, on each database: a dump of every table (and, on SQLite, the raw
 * database files) holds no secret, token or key in clear; a ciphertext moved to another row does
 * not open there, so both swapped webhooks fail with an `internal` attempt and receive nothing.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { forEachDatabase } from '../support/databases';
import { dumpDatabase, secretForms, tableNames } from '../support/dump';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const hook = (url: string) => ({ url, eventTypes: ['user.login'], description: 'at rest', organizationIds: [] });
const login = (tenantId: string, id: string) => ({
  event: { id, tenantId, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } },
});

forEachDatabase('signing secrets at rest', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let dbUrl: string;

  beforeEach(async () => {
    dbUrl = await database.create();
    sidecar = await startSidecar(dbUrl, { WEBHOOKS_PLATFORM_TOKEN: `platform-${randomBytes(12).toString('hex')}`, WEBHOOKS_MAX_RETRIES: '0' });
    receiver = await TestReceiver.start();
  });

  afterEach(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  async function finished(count: number): Promise<void> {
    await waitUntil(async () => Number(((await sidecar.app.db('delivery_attempts').count({ n: '*' }).first()) as { n: number | string }).n) === count, `${count} attempts`);
  }

  it('keeps no secret, token or key in clear in any column of any table', async () => {
    const secrets: string[] = [];
    for (const tenantId of ['tenant-a', 'tenant-b']) {
      const { webhook, secret } = await sidecar.admin(tenantId).createWebhook(hook(receiver.url));
      secrets.push(secret, (await sidecar.admin(tenantId).rotateWebhookSecret({ id: webhook!.id })).secret);
      // Rotated twice: the original is kept among the older previous secrets.
      if (tenantId === 'tenant-a') secrets.push((await sidecar.admin(tenantId).rotateWebhookSecret({ id: webhook!.id })).secret);
    }
    secrets.push((await sidecar.platform().createWebhook(hook(receiver.url))).secret);
    for (const tenantId of ['tenant-a', 'tenant-b']) await sidecar.ingest.publishEvent(login(tenantId, `evt-${tenantId}`));
    await finished(4);

    const dump = await dumpDatabase(sidecar.app.db);
    expect(await tableNames(sidecar.app.db)).to.include.members(['webhooks', 'events', 'deliveries', 'delivery_attempts', 'webhook_stats']);
    // The dump is not empty: it holds the webhooks, sealed, and what was delivered.
    expect(dump).to.include(receiver.url).and.include('evt-tenant-b');
    expect((dump.match(/"v1\.[0-9a-f]{8}\./g) ?? []).length, 'sealed secrets in the dump: three current, three previous').to.equal(6);
    const { tokens, encryptionKeys } = sidecar.config;
    const forbidden = [
      ...secrets.flatMap(secretForms),
      tokens.ingest,
      tokens.admin,
      tokens.platform!,
      ...encryptionKeys.flatMap((k) => [k.toString('base64'), k.toString('hex')]),
    ];
    for (const text of forbidden) expect(dump.includes(text), `the dump holds ${text.slice(0, 12)}...`).to.equal(false);

    const target = parseDbUrl(dbUrl);
    if (target.kind !== 'sqlite') return;
    // The files themselves, free pages and write-ahead log included.
    const files = [target.file, `${target.file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f));
    for (const secret of secrets) {
      const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
      for (const bytes of files) {
        expect(bytes.includes(secret.replace(/^whsec_/, '')), 'a secret in the database file').to.equal(false);
        expect(bytes.includes(key), 'key bytes in the database file').to.equal(false);
      }
    }
  });

  it("makes both webhooks fail with an `internal` attempt when two rows' ciphertexts are swapped", async () => {
    const other = await TestReceiver.start();
    try {
      const a = (await sidecar.admin('tenant-a').createWebhook(hook(receiver.url))).webhook!.id;
      const b = (await sidecar.admin('tenant-a').createWebhook(hook(other.url))).webhook!.id;
      const c = (await sidecar.admin('tenant-b').createWebhook(hook(other.url))).webhook!.id;
      const db = sidecar.app.db;
      const sealed = async (id: string) => ((await db('webhooks').where({ id }).first('secret_sealed')) as { secret_sealed: string }).secret_sealed;
      const [sa, sb] = [await sealed(a), await sealed(b)];
      await db('webhooks').where({ id: a }).update({ secret_sealed: sb });
      await db('webhooks').where({ id: b }).update({ secret_sealed: sa });

      await sidecar.ingest.publishEvent(login('tenant-a', 'evt-swapped'));
      await sidecar.ingest.publishEvent(login('tenant-b', 'evt-untouched'));
      await finished(3);
      const attempts = (await db('delivery_attempts').select('webhook_id', 'error_class', 'error_message', 'status_code')) as Array<Record<string, unknown>>;
      const of = (id: string) => attempts.find((x) => x.webhook_id === id)!;
      for (const id of [a, b]) {
        expect(of(id), id).to.include({ error_class: 'internal', status_code: null });
        expect(String(of(id).error_message)).to.include('could not be decrypted');
      }
      // The control: an untouched webhook delivers as usual.
      expect(of(c)).to.include({ error_class: null, status_code: 200 });
      expect(receiver.requests).to.have.length(0);
      expect(other.requests.map((r) => (JSON.parse(r.body) as { id: string }).id)).to.deep.equal(['evt-untouched']);
    } finally {
      await other.close();
    }
  });
});
