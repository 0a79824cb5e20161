/**
 * TLS and mutual TLS on the gRPC server, with certificates made at test time: plaintext clients
 * and clients that do not trust the server's CA get nothing; with a client CA configured, a
 * client without a certificate, or with one from another CA, fails the handshake; bearer tokens
 * are still checked on top; refused calls write nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';
import { createAuthority, type Authority, type Pem } from '../support/certs';
import { testDatabases } from '../support/databases';
import { metadataOf, promised, rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const database = testDatabases()[0]!;
const TENANT = 'tenant-tls';
const newHook = { url: 'https://hooks.example.com/in', eventTypes: ['user.login'], description: '', organizationIds: [] };

describe(`gRPC over TLS and mutual TLS [${database.name}]`, () => {
  let dir: string;
  let ca: Authority;
  let otherCa: Authority;
  let server: Pem;
  let sidecar: TestSidecar | undefined;
  const clients: grpc.Client[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-tls-'));
    ca = createAuthority('webhooks test CA');
    otherCa = createAuthority('someone else CA');
    server = ca.issue('webhooks-sidecar', 'server');
  });

  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await database.dropAll();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await sidecar?.stop();
    sidecar = undefined;
  });

  function file(name: string, content: string): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content, { mode: 0o600 });
    return p;
  }

  async function start(mutual: boolean): Promise<TestSidecar> {
    const env: Env = {
      WEBHOOKS_TLS_CERT_FILE: file('server.crt', server.cert),
      WEBHOOKS_TLS_KEY_FILE: file('server.key', server.key),
      ...(mutual ? { WEBHOOKS_TLS_CLIENT_CA_FILE: file('client-ca.crt', ca.cert) } : {}),
    };
    return (sidecar = await startSidecar(await database.create(), env));
  }

  function client(credentials: grpc.ChannelCredentials): WebhookManagementClient {
    // The name the server certificate carries, rather than the IP, which SNI may not carry.
    const c = new WebhookManagementClient(`127.0.0.1:${sidecar!.port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
    clients.push(c);
    return c;
  }

  const trusting = (root: Authority, identity?: Pem) =>
    grpc.credentials.createSsl(Buffer.from(root.cert), identity && Buffer.from(identity.key), identity && Buffer.from(identity.cert));
  const asAdmin = (c: WebhookManagementClient, token: string | undefined = sidecar!.config.tokens.admin) =>
    promised(c, metadataOf(token, TENANT));

  async function webhookRows(): Promise<number> {
    return Number(((await sidecar!.app.db('webhooks').count({ n: '*' }).first()) as { n: number | string }).n);
  }

  /** The call fails before any handler runs: UNAVAILABLE (no channel), and nothing is written. */
  async function expectNoChannel(c: WebhookManagementClient): Promise<void> {
    const err = await rejectionOf(asAdmin(c).createWebhook(newHook));
    expect(err.code, err.details).to.equal(grpc.status.UNAVAILABLE);
    expect(await webhookRows()).to.equal(0);
  }

  /**
   * A raw TLS connection to the server: true when the server went on to speak HTTP/2 (its
   * SETTINGS frame), false when it ended the connection instead. Under TLS 1.3 the server judges
   * the client's certificate after the client's side of the handshake is done, so the answer is
   * what comes next, not whether the client saw the handshake complete.
   */
  function serverSpeaks(options: tls.ConnectionOptions): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: sidecar!.port, servername: 'localhost', ALPNProtocols: ['h2'], ...options });
      let spoke = false;
      socket.on('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      socket.on('data', () => {
        spoke = true;
        socket.destroy();
      });
      socket.on('error', () => undefined); // an alert or a reset: the close below tells
      socket.setTimeout(5_000, () => socket.destroy());
      socket.on('close', () => resolve(spoke));
    });
  }

  describe('TLS', () => {
    it('serves a client that trusts its CA, and still checks the token', async () => {
      await start(false);
      const c = client(trusting(ca));
      expect((await asAdmin(c).createWebhook(newHook)).webhook!.tenantId).to.equal(TENANT);
      const err = await rejectionOf(promised(c, metadataOf(undefined, TENANT)).listWebhooks({ pageSize: 0, pageToken: '' }));
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED);
      const wrongRole = await rejectionOf(asAdmin(c, sidecar!.config.tokens.ingest).createWebhook(newHook));
      expect(wrongRole.code).to.equal(grpc.status.PERMISSION_DENIED);
      expect(await webhookRows()).to.equal(1);
    });

    it('gives nothing to a plaintext client', async () => {
      await start(false);
      await expectNoChannel(client(grpc.credentials.createInsecure()));
    });

    it('gives nothing to a client that does not trust its certificate', async () => {
      await start(false);
      await expectNoChannel(client(trusting(otherCa)));
    });
  });

  describe('mutual TLS', () => {
    it('serves a client with a certificate from the client CA, and still checks the token', async () => {
      await start(true);
      const c = client(trusting(ca, ca.issue('admin-service', 'client')));
      await asAdmin(c).createWebhook(newHook);
      const err = await rejectionOf(asAdmin(c, 'Bearer-nothing-like-a-token').createWebhook(newHook));
      expect(err.code).to.equal(grpc.status.UNAUTHENTICATED);
      expect(await webhookRows()).to.equal(1);
      expect(await serverSpeaks({ ca: ca.cert, ...ca.issue('probe', 'client') })).to.equal(true);
    });

    it('fails the handshake of a client without a certificate', async () => {
      await start(true);
      await expectNoChannel(client(trusting(ca)));
      expect(await serverSpeaks({ ca: ca.cert })).to.equal(false);
    });

    it('fails the handshake of a client whose certificate another CA signed', async () => {
      await start(true);
      const stranger = otherCa.issue('admin-service', 'client');
      await expectNoChannel(client(trusting(ca, stranger)));
      expect(await serverSpeaks({ ca: ca.cert, ...stranger })).to.equal(false);
    });

    it('fails the handshake of a client presenting the server CA itself, self-signed', async () => {
      await start(true);
      // A self-signed certificate is its own CA: trusting it would trust anyone who made one.
      const self = createAuthority('admin-service');
      await expectNoChannel(client(trusting(ca, self)));
    });
  });
});
