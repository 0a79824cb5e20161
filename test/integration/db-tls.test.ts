/**
 * TLS to MySQL (WEBHOOKS_DB_TLS), against a MariaDB of the test's own that refuses TCP clients
 * without TLS (test/support/tls-mariadb.ts):
 * - verify-identity with the server's CA: the sidecar migrates, ingests and delivers, and its
 *   connections are encrypted;
 * - a server certificate from another CA, or one that does not name the host dialled, stops the
 *   start with the reason; verify-ca accepts the second, as documented (the config tests cover
 *   the settings refused before any connection: verify-ca without a CA, an IP with
 *   verify-identity);
 * - an account that requires a client certificate is reached with WEBHOOKS_DB_TLS_CERT_FILE;
 * - a server without TLS (the machine's MariaDB) is refused rather than used in clear text.
 * MySQL only: SQLite has no connection to secure (the config tests cover that refusal).
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import knex from 'knex';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { createAuthority, type Authority } from '../support/certs';
import { MYSQL_URL } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { mariadbBinaries, startTlsMariadb, type TlsMariadb } from '../support/tls-mariadb';

(MYSQL_URL ? describe : describe.skip)('TLS to MySQL [mysql]', function () {
  this.timeout(60_000);
  let authority: Authority;
  let server: TlsMariadb;
  let dir: string;
  const sidecars: TestSidecar[] = [];
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  // The tests share one database, and a sidecar refuses to start on secrets another key sealed.
  const encryptionKey = randomBytes(32).toString('base64');
  const start = async (url: string, env: Record<string, string>) => {
    const sidecar = await startSidecar(url, { WEBHOOKS_ENCRYPTION_KEY: encryptionKey, ...env });
    sidecars.push(sidecar);
    return sidecar;
  };
  const refusal = async (url: string, env: Record<string, string>): Promise<Error> => {
    const outcome = await start(url, env).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(outcome, 'the sidecar started').to.be.instanceOf(Error);
    return outcome!;
  };

  before(async function () {
    if (!mariadbBinaries()) {
      // Every machine CI runs on has them (MariaDB is a prerequisite of the MySQL suite).
      console.warn('    no mariadb-install-db/mariadbd here: the TLS tests cannot make their server');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'db-tls-'));
    authority = createAuthority('db-tls-test-ca');
    server = await startTlsMariadb(authority);
  });

  afterEach(async () => {
    for (const sidecar of sidecars.splice(0)) await sidecar.stop();
  });

  after(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('migrates, ingests and delivers over verified TLS', async () => {
    const sidecar = await start(server.url('sidecar'), {
      WEBHOOKS_DB_TLS: 'verify-identity',
      WEBHOOKS_DB_TLS_CA_FILE: file('ca.pem', authority.cert),
    });
    const [[status]] = (await sidecar.app.db.raw("SHOW SESSION STATUS LIKE 'Ssl_version'")) as [[{ Value: string }]];
    expect(status.Value).to.match(/^TLSv1\.[23]$/);
    const receiver = await TestReceiver.start();
    try {
      const { secret } = await sidecar.admin('tenant-a').createWebhook({
        url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [],
      });
      await sidecar.ingest.publishEvent({
        event: { id: 'evt-tls', tenantId: 'tenant-a', type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
      });
      const [request] = await receiver.waitForRequests(1);
      new StandardWebhook(secret).verify(request!.body, {
        'webhook-id': request!.headers['webhook-id'] as string,
        'webhook-timestamp': request!.headers['webhook-timestamp'] as string,
        'webhook-signature': request!.headers['webhook-signature'] as string,
      });
      expect(JSON.parse(request!.body)).to.deep.include({ type: 'user.login', data: { user_id: 'u-1' } });
    } finally {
      await receiver.close();
    }
  });

  it('refuses a server certificate that another CA signed', async () => {
    const err = await refusal(server.url('sidecar'), {
      WEBHOOKS_DB_TLS: 'verify-ca',
      WEBHOOKS_DB_TLS_CA_FILE: file('other-ca.pem', createAuthority('another-ca').cert),
    });
    expect(err.message).to.match(/certificate/i);
  });

  it('checks the host name with verify-identity, and not with verify-ca', async () => {
    const ca = file('ca.pem', authority.cert);
    await server.reissue(['db.example.test']);
    try {
      const err = await refusal(server.url('sidecar'), { WEBHOOKS_DB_TLS: 'verify-identity', WEBHOOKS_DB_TLS_CA_FILE: ca });
      expect(err.message).to.match(/localhost.*db\.example\.test|db\.example\.test.*localhost/);
      const sidecar = await start(server.url('sidecar'), { WEBHOOKS_DB_TLS: 'verify-ca', WEBHOOKS_DB_TLS_CA_FILE: ca });
      const { webhooks } = await sidecar.admin('tenant-a').listWebhooks({ pageSize: 10, pageToken: '' });
      expect(webhooks).to.be.an('array');
    } finally {
      await server.reissue(['localhost']);
    }
  });

  it('presents a client certificate to an account that requires one', async () => {
    const ca = file('ca.pem', authority.cert);
    const refused = await refusal(server.url('x509'), { WEBHOOKS_DB_TLS: 'verify-identity', WEBHOOKS_DB_TLS_CA_FILE: ca });
    expect(refused.message).to.match(/access denied/i);
    const client = authority.issue('webhooks-sidecar', 'client');
    const sidecar = await start(server.url('x509'), {
      WEBHOOKS_DB_TLS: 'verify-identity',
      WEBHOOKS_DB_TLS_CA_FILE: ca,
      WEBHOOKS_DB_TLS_CERT_FILE: file('client.pem', client.cert),
      WEBHOOKS_DB_TLS_KEY_FILE: file('client-key.pem', client.key),
    });
    const [[status]] = (await sidecar.app.db.raw("SHOW SESSION STATUS LIKE 'Ssl_version'")) as [[{ Value: string }]];
    expect(status.Value).to.match(/^TLSv1\.[23]$/);
  });

  it('refuses a server without TLS instead of connecting in clear text', async function () {
    // The machine's MariaDB, as the other tests use it: without TLS (Debian's default).
    const plain = knex({ client: 'mysql2', connection: MYSQL_URL!, pool: { min: 0, max: 1 } });
    const [[{ offered }]] = (await plain.raw('SELECT @@have_ssl AS offered').finally(() => plain.destroy())) as [[{ offered: string }]];
    if (offered === 'YES') {
      console.warn('    the MariaDB at WEBHOOKS_TEST_MYSQL_URL offers TLS: no server without it to refuse here');
      this.skip();
    }
    const err = await refusal(MYSQL_URL!, { WEBHOOKS_DB_TLS: 'verify-ca', WEBHOOKS_DB_TLS_CA_FILE: file('ca.pem', authority.cert) });
    expect(err.message).to.match(/does not support secure connection/i);
  });
});
