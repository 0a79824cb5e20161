/**
 * WEBHOOKS_TLS_*: off unless a certificate and key are given; both or neither; a client CA only
 * beside them; each file read at start, so a missing or wrong file stops the start naming its
 * variable (and never echoing what the file holds).
 */
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { CERT, configFiles, KEY, mysqlEnv } from '../support/config-files';

describe('config: WEBHOOKS_TLS_*', () => {
  const { file, missing, parse, errorOf } = configFiles(mysqlEnv('mysql://root@127.0.0.1:3306/x'));

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
    ['a missing certificate file', () => ({ WEBHOOKS_TLS_CERT_FILE: missing('nope.pem'), WEBHOOKS_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_TLS_CERT_FILE: '],
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
