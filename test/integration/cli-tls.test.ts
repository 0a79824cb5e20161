/**
 * The CLI against a sidecar that requires mutual TLS: --tls with --ca, --cert and --key gets
 * through (webhooks list, health); without a client certificate, or in plaintext, the call fails
 * with exit code 1. Certificates are made at test time (test/support/certs.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { createAuthority } from '../support/certs';
import { cliEnv, runCli } from '../support/cli';
import { testDatabases, type TestDatabase } from '../support/databases';
import { startSidecar, type TestSidecar } from '../support/sidecar';

describe('cli: TLS and client certificates', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sidecar: TestSidecar;
  let tmp: string;
  const file = (name: string, text: string): string => {
    fs.writeFileSync(path.join(tmp, name), text);
    return path.join(tmp, name);
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-cli-tls-'));
    const ca = createAuthority('cli test CA');
    const server = ca.issue('localhost', 'server');
    const client = ca.issue('operator', 'client');
    file('ca.crt', ca.cert);
    file('client.crt', client.cert);
    file('client.key', client.key);
    database = testDatabases()[0]!;
    sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_TLS_CERT_FILE: file('server.crt', server.cert),
      WEBHOOKS_TLS_KEY_FILE: file('server.key', server.key),
      WEBHOOKS_TLS_CLIENT_CA_FILE: path.join(tmp, 'ca.crt'),
    });
  });

  after(async () => {
    await sidecar?.stop();
    await database?.dropAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('gets through with --tls --ca --cert --key, and is refused without a client certificate or TLS', async () => {
    const env = cliEnv(sidecar, 'tenant-tls');
    const tls = ['--tls', '--ca', path.join(tmp, 'ca.crt'), '--cert', path.join(tmp, 'client.crt'), '--key', path.join(tmp, 'client.key')];
    const ok = await runCli(['webhooks', 'list', ...tls], env);
    expect(ok, ok.stderr).to.include({ code: 0, stdout: 'No webhooks.\n' });
    const health = await runCli(['health', '--addr', `127.0.0.1:${sidecar.port}`, ...tls], {});
    expect(health).to.include({ code: 0, stdout: `grpc://127.0.0.1:${sidecar.port}: SERVING\n` });
    for (const flags of [['--tls', '--ca', path.join(tmp, 'ca.crt')], []]) {
      const refused = await runCli(['webhooks', 'list', '--timeout', '3s', ...flags], env);
      expect(refused.code, `flags: ${flags.join(' ')}`).to.equal(1);
      expect(refused.stderr).to.match(/^error: (UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN|INTERNAL): /);
    }
    const halfPair = await runCli(['webhooks', 'list', '--tls', '--cert', path.join(tmp, 'client.crt')], env);
    expect(halfPair.code).to.equal(2);
    expect(halfPair.stderr).to.match(/--cert and --key go together/);
  });
});
