/**
 * WEBHOOKS_DB_TLS and its files: off by default; when on, the server's certificate is always
 * verified, so the settings that would not verify it are refused at start (verify-ca without its
 * own CA, verify-identity against an IP address, a CA or client certificate with TLS left off);
 * MySQL only; each file read at start, naming its variable when missing or wrong, never echoing
 * what it holds. test/integration/db-tls.test.ts connects with these settings.
 */
import { expect } from 'chai';
import type { Env } from '../../src/config/config';
import { CERT, configFiles, KEY, mysqlEnv } from '../support/config-files';

describe('config: WEBHOOKS_DB_TLS*', () => {
  const { file, missing, parse, errorOf } = configFiles(mysqlEnv('mysql://app:pw@db.internal:3306/webhooks'));

  it('is off by default: the database target carries no TLS settings', () => {
    const { db } = parse({});
    expect(db).to.not.have.property('tls');
    expect(parse({ WEBHOOKS_DB_TLS: 'off' }).db).to.not.have.property('tls');
  });

  it('reads verify-identity without a CA (the public roots), and with a CA and client certificate', () => {
    const db = parse({ WEBHOOKS_DB_TLS: 'verify-identity' }).db;
    expect(db).to.deep.include({ kind: 'mysql', host: 'db.internal' });
    expect(db.kind === 'mysql' && db.tls).to.deep.equal({ mode: 'verify-identity', ca: undefined, cert: undefined, key: undefined });
    const full = parse({
      WEBHOOKS_DB_TLS: 'verify-ca',
      WEBHOOKS_DB_TLS_CA_FILE: file('ca.pem', CERT),
      WEBHOOKS_DB_TLS_CERT_FILE: file('c.pem', CERT),
      WEBHOOKS_DB_TLS_KEY_FILE: file('k.pem', KEY),
    }).db;
    const tls = full.kind === 'mysql' ? full.tls! : undefined;
    expect(tls?.mode).to.equal('verify-ca');
    expect([tls?.ca, tls?.cert, tls?.key].map(String)).to.deep.equal([CERT, CERT, KEY]);
    expect(Object.isFrozen(full), 'db').to.equal(true);
  });

  it('accepts verify-identity for a host name that looks like an address but is not one', () => {
    const db = parse({ WEBHOOKS_DB_URL: 'mysql://app:pw@10.0.0.5.nip.io:3306/webhooks', WEBHOOKS_DB_TLS: 'verify-identity' }).db;
    expect(db.kind === 'mysql' && db.tls?.mode).to.equal('verify-identity');
  });

  const cases: Array<[string, () => Env, string, RegExp?]> = [
    ['an unknown mode', () => ({ WEBHOOKS_DB_TLS: 'required' }), 'WEBHOOKS_DB_TLS: ', /off, verify-ca, verify-identity/],
    ['verify-ca without a CA file', () => ({ WEBHOOKS_DB_TLS: 'verify-ca' }), 'WEBHOOKS_DB_TLS_CA_FILE: ', /verify-ca/],
    [
      'verify-identity against an IPv4 address',
      () => ({ WEBHOOKS_DB_URL: 'mysql://app:pw@10.0.0.5:3306/webhooks', WEBHOOKS_DB_TLS: 'verify-identity' }),
      'WEBHOOKS_DB_TLS: ',
      /10\.0\.0\.5.*verify-ca/,
    ],
    [
      'verify-identity against an IPv6 address',
      () => ({ WEBHOOKS_DB_URL: 'mysql://app:pw@[fd00::5]:3306/webhooks', WEBHOOKS_DB_TLS: 'verify-identity' }),
      'WEBHOOKS_DB_TLS: ',
      /fd00::5/,
    ],
    ['TLS on SQLite', () => ({ WEBHOOKS_DB_URL: 'sqlite:./data/x.db', WEBHOOKS_DB_TLS: 'verify-identity' }), 'WEBHOOKS_DB_TLS: ', /mysql:\/\//],
    ['a CA file with TLS off', () => ({ WEBHOOKS_DB_TLS_CA_FILE: file('ca.pem', CERT) }), 'WEBHOOKS_DB_TLS_CA_FILE: ', /WEBHOOKS_DB_TLS=/],
    ['a client certificate with TLS off', () => ({ WEBHOOKS_DB_TLS_CERT_FILE: file('c.pem', CERT), WEBHOOKS_DB_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_DB_TLS_CERT_FILE: '],
    ['a client certificate without its key', () => ({ WEBHOOKS_DB_TLS: 'verify-identity', WEBHOOKS_DB_TLS_CERT_FILE: file('c.pem', CERT) }), 'WEBHOOKS_DB_TLS_KEY_FILE: '],
    ['a client key without its certificate', () => ({ WEBHOOKS_DB_TLS: 'verify-identity', WEBHOOKS_DB_TLS_KEY_FILE: file('k.pem', KEY) }), 'WEBHOOKS_DB_TLS_CERT_FILE: '],
    ['a missing CA file', () => ({ WEBHOOKS_DB_TLS: 'verify-ca', WEBHOOKS_DB_TLS_CA_FILE: missing('nope.pem') }), 'WEBHOOKS_DB_TLS_CA_FILE: '],
    ['a CA file holding a key', () => ({ WEBHOOKS_DB_TLS: 'verify-ca', WEBHOOKS_DB_TLS_CA_FILE: file('ca.pem', KEY) }), 'WEBHOOKS_DB_TLS_CA_FILE: '],
    [
      'a key file holding a certificate',
      () => ({ WEBHOOKS_DB_TLS: 'verify-identity', WEBHOOKS_DB_TLS_CERT_FILE: file('c.pem', CERT), WEBHOOKS_DB_TLS_KEY_FILE: file('k.pem', CERT) }),
      'WEBHOOKS_DB_TLS_KEY_FILE: ',
    ],
  ];
  for (const [name, env, prefix, detail] of cases) {
    it(`refuses ${name}, naming the variable`, () => {
      const err = errorOf(env());
      expect(err.message.startsWith(prefix), err.message).to.equal(true);
      if (detail) expect(err.message).to.match(detail);
      expect(err.message).to.not.include('secret-key-material');
      expect(err.message).to.not.include(':pw@');
    });
  }
});
