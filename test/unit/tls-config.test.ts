/**
 * WEBHOOKS_TLS_*: off unless a certificate and key are given; both or neither; a client CA only
 * beside them; each file read at start, so a missing or wrong file stops the start naming its
 * variable (and never echoing what the file holds).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, parseConfig, type Env } from '../../src/config/config';
import { fillSecrets } from '../../src/config/embedded';

const BASE: Env = {
  WEBHOOKS_DB_URL: 'mysql://root@127.0.0.1:3306/x',
  WEBHOOKS_INGEST_TOKEN: 'ingest-token-0123456789',
  WEBHOOKS_ADMIN_TOKEN: 'admin-token-0123456789',
  WEBHOOKS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};
// Shapes only: the server parses them when it binds, which these tests do not do.
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n';

describe('config: WEBHOOKS_TLS_*', () => {
  let dir: string;
  const file = (name: string, content: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };
  const parse = (env: Env) => parseConfig({ ...BASE, ...env }, fillSecrets);
  const errorOf = (env: Env): ConfigError => {
    try {
      parse(env);
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-tls-config-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is off by default', () => {
    expect(parse({}).tls).to.equal(undefined);
  });

  it('reads the certificate and key, and the client CA when given', () => {
    const tls = parse({ WEBHOOKS_TLS_CERT_FILE: file('c.pem', CERT), WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY) }).tls!;
    expect(tls.cert.toString()).to.equal(CERT);
    expect(tls.key.toString()).to.equal(KEY);
    expect(tls.clientCa).to.equal(undefined);
    const mutual = parse({
      WEBHOOKS_TLS_CERT_FILE: file('c.pem', CERT),
      WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY),
      WEBHOOKS_TLS_CLIENT_CA_FILE: file('ca.pem', CERT),
    }).tls!;
    expect(mutual.clientCa!.toString()).to.equal(CERT);
  });

  const cases: Array<[string, () => Env, string]> = [
    ['a certificate without a key', () => ({ WEBHOOKS_TLS_CERT_FILE: file('c.pem', CERT) }), 'WEBHOOKS_TLS_KEY_FILE: '],
    ['a key without a certificate', () => ({ WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_TLS_CERT_FILE: '],
    ['a client CA alone', () => ({ WEBHOOKS_TLS_CLIENT_CA_FILE: file('ca.pem', CERT) }), 'WEBHOOKS_TLS_CLIENT_CA_FILE: '],
    ['a missing certificate file', () => ({ WEBHOOKS_TLS_CERT_FILE: path.join(dir, 'nope.pem'), WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_TLS_CERT_FILE: '],
    ['a key file holding a certificate', () => ({ WEBHOOKS_TLS_CERT_FILE: file('c.pem', CERT), WEBHOOKS_TLS_KEY_FILE: file('k.pem', CERT) }), 'WEBHOOKS_TLS_KEY_FILE: '],
    ['a certificate file holding a key', () => ({ WEBHOOKS_TLS_CERT_FILE: file('c.pem', KEY), WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_TLS_CERT_FILE: '],
  ];
  for (const [name, env, prefix] of cases) {
    it(`refuses ${name}, naming the variable`, () => {
      const err = errorOf(env());
      expect(err.message.startsWith(prefix), err.message).to.equal(true);
      expect(err.message).to.not.include('secret-key-material');
    });
  }
});
