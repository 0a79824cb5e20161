/**
 * Configuration: defaults, one ConfigError naming the variable for each bad value, MySQL mode's
 * required secrets, and embedded mode's generated credentials in the data folder.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseConfig, type Env } from '../../src/config/config';
import { fillSecrets } from '../../src/config/embedded';
import { ConfigError, loadConfig } from '../../src/config/index';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const MYSQL_ENV: Env = {
  WEBHOOKS_DB_URL: 'mysql://root@127.0.0.1:3306/x',
  WEBHOOKS_INGEST_TOKEN: 'ingest-token-0123456789',
  WEBHOOKS_ADMIN_TOKEN: 'admin-token-0123456789',
  WEBHOOKS_ENCRYPTION_KEY: KEY_A,
};

/** Runs a parse that must fail, and returns its ConfigError. */
function configErrorOf(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

describe('config/parseConfig', () => {
  it('applies the documented defaults', () => {
    // A fake fillSecrets: nothing touches the disk, so the default ./data is never created.
    const config = parseConfig({}, () => ({
      tokens: { ingest: 'i'.repeat(16), admin: 'a'.repeat(16), platform: undefined },
      encryptionKeys: [randomBytes(32)],
    }));
    const file = path.resolve('./data/webhooks.db');
    expect(config.db).to.deep.equal({ kind: 'sqlite', file, dataDir: path.dirname(file) });
    expect(config.dataDir).to.equal(path.dirname(file));
    expect(config.grpcAddr).to.equal('0.0.0.0:50051');
    expect(config.maxRetries).to.equal(3);
    expect(config.requestTimeoutMs).to.equal(15_000);
    expect(config.retryBaseMs).to.equal(30_000);
    expect(config.logLevel).to.equal('info');
    expect(config.eventBodies).to.equal('auto');
    expect(config.allowedCidrs.size).to.equal(0);
    expect(config).to.include({ deliveryConcurrency: 32, maxInFlightPerWebhook: 8, maxInFlightPerTenant: 16 });
  });

  it('caps each tenant at half the delivery slots unless told otherwise', () => {
    const at = (env: Record<string, string>) => parseConfig({ ...MYSQL_ENV, ...env }, fillSecrets).maxInFlightPerTenant;
    expect(at({ WEBHOOKS_DELIVERY_CONCURRENCY: '9' })).to.equal(4);
    expect(at({ WEBHOOKS_DELIVERY_CONCURRENCY: '1' }), 'never below one').to.equal(1);
    expect(at({ WEBHOOKS_DELIVERY_CONCURRENCY: '9', WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: '9' })).to.equal(9);
  });

  it('parses MySQL mode without connecting and with no data folder', () => {
    const config = parseConfig(
      { ...MYSQL_ENV, WEBHOOKS_DB_URL: 'mysql://app:p%40ss@db.internal:3307/webhooks' },
      fillSecrets,
    );
    expect(config.db).to.deep.equal({
      kind: 'mysql', host: 'db.internal', port: 3307, user: 'app', password: 'p@ss', database: 'webhooks',
    });
    expect(config.dataDir).to.equal(undefined);
    expect(config.tokens).to.deep.equal({
      ingest: MYSQL_ENV.WEBHOOKS_INGEST_TOKEN, admin: MYSQL_ENV.WEBHOOKS_ADMIN_TOKEN, platform: undefined,
    });
  });

  it('reads every variable it is given', () => {
    const config = parseConfig({
      ...MYSQL_ENV,
      WEBHOOKS_GRPC_ADDR: '127.0.0.1:0',
      WEBHOOKS_MAX_RETRIES: '0',
      WEBHOOKS_RETRY_BASE_MS: '250',
      WEBHOOKS_REQUEST_TIMEOUT_MS: '2000',
      WEBHOOKS_ALLOWED_CIDRS: '127.0.0.2/32, 10.0.0.0/8',
      WEBHOOKS_LOG_LEVEL: 'debug',
      WEBHOOKS_EVENT_BODIES: 'separate',
    }, fillSecrets);
    expect(config).to.include({ grpcAddr: '127.0.0.1:0', maxRetries: 0, retryBaseMs: 250, requestTimeoutMs: 2000, logLevel: 'debug', eventBodies: 'separate' });
    expect(config.allowedCidrs.contains('127.0.0.2')).to.equal(true);
    expect(config.allowedCidrs.contains('127.0.0.3')).to.equal(false);
    expect(config.allowedCidrs.contains('10.1.2.3')).to.equal(true);
  });

  it('is frozen', () => {
    const config = parseConfig(MYSQL_ENV, fillSecrets);
    expect(Object.isFrozen(config)).to.equal(true);
    expect(() => {
      (config as { maxRetries: number }).maxRetries = 9;
    }).to.throw(TypeError);
    expect(config.maxRetries).to.equal(3);
  });

  it('freezes what it holds: tokens, key list and database target', () => {
    const config = parseConfig(MYSQL_ENV, fillSecrets);
    expect(Object.isFrozen(config.tokens), 'tokens').to.equal(true);
    expect(Object.isFrozen(config.encryptionKeys), 'encryptionKeys').to.equal(true);
    expect(Object.isFrozen(config.db), 'db').to.equal(true);
  });

  const bad: Array<[string, string, RegExp?]> = [
    ['WEBHOOKS_DB_URL', 'postgres://u:p@localhost:5432/webhooks'],
    ['WEBHOOKS_DB_URL', 'sqlite:'],
    ['WEBHOOKS_DB_URL', 'mysql://root@127.0.0.1:3306'],
    ['WEBHOOKS_DB_URL', 'mysql://root@127.0.0.1:3306/'],
    ['WEBHOOKS_DB_URL', 'mysql://root@127.0.0.1:3306/webhooks?ssl=true', /takes no connection options \(ssl\)/],
    ['WEBHOOKS_GRPC_ADDR', '127.0.0.1'],
    ['WEBHOOKS_GRPC_ADDR', '0.0.0.0:70000'],
    ['WEBHOOKS_MAX_RETRIES', '-1'],
    ['WEBHOOKS_MAX_RETRIES', 'abc'],
    ['WEBHOOKS_MAX_RETRIES', '1.5'],
    ['WEBHOOKS_MAX_RETRIES', '51'],
    ['WEBHOOKS_RETRY_BASE_MS', '0'],
    ['WEBHOOKS_REQUEST_TIMEOUT_MS', '10'],
    ['WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT', '0'],
    ['WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT', '1025'],
    ['WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT', 'half'],
    ['WEBHOOKS_ENCRYPTION_KEY', randomBytes(16).toString('base64')],
    ['WEBHOOKS_ENCRYPTION_KEY', 'not base64 at all!'],
    ['WEBHOOKS_ENCRYPTION_KEY', `${KEY_A},${randomBytes(31).toString('base64')}`, /entry 2/],
    ['WEBHOOKS_ENCRYPTION_KEY', `${KEY_A},`, /entry 2/],
    ['WEBHOOKS_ALLOWED_CIDRS', 'nonsense'],
    ['WEBHOOKS_ALLOWED_CIDRS', '127.0.0.1/33'],
    ['WEBHOOKS_LOG_LEVEL', 'loud'],
    ['WEBHOOKS_EVENT_BODIES', 'apart'],
    ['WEBHOOKS_INGEST_TOKEN', 'short-token'],
    ['WEBHOOKS_ADMIN_TOKEN', 'has a space in the middle'],
    ['WEBHOOKS_PLATFORM_TOKEN', 'tiny'],
  ];
  for (const [name, value, detail] of bad) {
    it(`rejects ${name}=${JSON.stringify(value)} with a ConfigError naming it`, () => {
      const err = configErrorOf(() => parseConfig({ ...MYSQL_ENV, [name]: value }, fillSecrets));
      expect(err.message.startsWith(`${name}: `), err.message).to.equal(true);
      if (detail) expect(err.message).to.match(detail);
    });
  }

  it('does not echo a rejected encryption key in its message', () => {
    const short = randomBytes(16).toString('base64');
    const err = configErrorOf(() => parseConfig({ ...MYSQL_ENV, WEBHOOKS_ENCRYPTION_KEY: short }, fillSecrets));
    expect(err.message).to.not.include(short);
  });

  it('rejects identical ingest and admin tokens, naming both', () => {
    const same = 'the-same-token-for-both';
    const err = configErrorOf(() =>
      parseConfig({ ...MYSQL_ENV, WEBHOOKS_INGEST_TOKEN: same, WEBHOOKS_ADMIN_TOKEN: same }, fillSecrets),
    );
    expect(err.message).to.match(/^WEBHOOKS_INGEST_TOKEN/);
    expect(err.message).to.include('WEBHOOKS_ADMIN_TOKEN');
    expect(err.message).to.not.include(same);
  });

  for (const name of ['WEBHOOKS_INGEST_TOKEN', 'WEBHOOKS_ADMIN_TOKEN', 'WEBHOOKS_ENCRYPTION_KEY']) {
    it(`requires ${name} in MySQL mode`, () => {
      const err = configErrorOf(() => parseConfig({ ...MYSQL_ENV, [name]: undefined }, fillSecrets));
      expect(err.message.startsWith(`${name}: `), err.message).to.equal(true);
    });
  }

  it('accepts several encryption keys, the first one first', () => {
    const config = parseConfig({ ...MYSQL_ENV, WEBHOOKS_ENCRYPTION_KEY: `${KEY_B}, ${KEY_A}` }, fillSecrets);
    expect(config.encryptionKeys.map((k) => k.toString('base64'))).to.deep.equal([KEY_B, KEY_A]);
  });
});

describe('config/loadConfig in embedded mode', () => {
  let dir: string;
  let env: Env;
  let credentials: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-config-'));
    env = { WEBHOOKS_DB_URL: `sqlite:${path.join(dir, 'data', 'webhooks.db')}` };
    credentials = path.join(dir, 'data', 'credentials.json');
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('generates tokens and a key on the first load, into credentials.json with mode 0600', () => {
    const { config, generated } = loadConfig(env);
    expect(config.dataDir).to.equal(path.join(dir, 'data'));
    expect(generated).to.not.equal(undefined);
    expect(generated!.file).to.equal(credentials);
    expect(generated!.tokens).to.deep.equal(config.tokens);
    const { ingest, admin, platform } = config.tokens;
    for (const token of [ingest, admin, platform]) expect(token).to.match(/^[\x21-\x7e]{16,}$/);
    expect(new Set([ingest, admin, platform]).size).to.equal(3);
    expect(config.encryptionKeys).to.have.length(1);
    expect(config.encryptionKeys[0]).to.have.length(32);
    expect(fs.statSync(credentials).mode & 0o777).to.equal(0o600);
    const stored = fs.readFileSync(credentials, 'utf8');
    expect(stored).to.include(ingest).and.include(admin).and.include(config.encryptionKeys[0].toString('base64'));
  });

  it('reads the same tokens and key on the second load, and reports nothing generated', () => {
    const first = loadConfig(env);
    const second = loadConfig(env);
    expect(second.generated).to.equal(undefined);
    expect(second.config.tokens).to.deep.equal(first.config.tokens);
    expect(second.config.encryptionKeys[0].equals(first.config.encryptionKeys[0])).to.equal(true);
  });

  it('lets tokens given in the environment win over stored ones', () => {
    const first = loadConfig(env);
    const ingest = 'env-ingest-token-0123456789';
    const second = loadConfig({ ...env, WEBHOOKS_INGEST_TOKEN: ingest });
    expect(second.config.tokens.ingest).to.equal(ingest);
    expect(second.config.tokens.admin).to.equal(first.config.tokens.admin);
    expect(JSON.parse(fs.readFileSync(credentials, 'utf8'))).to.include({ ingestToken: first.config.tokens.ingest });
  });

  it('reports as generated only the generated tokens in use, never one given in the environment', () => {
    const ingest = 'env-ingest-token-0123456789';
    const admin = 'env-admin-token-0123456789';
    const { config, generated } = loadConfig({ ...env, WEBHOOKS_INGEST_TOKEN: ingest, WEBHOOKS_ADMIN_TOKEN: admin });
    expect(generated, 'the platform token was generated and is in use').to.not.equal(undefined);
    expect(generated!.tokens).to.deep.equal({ platform: config.tokens.platform });
    expect(JSON.stringify(generated)).to.not.include(ingest).and.not.include(admin);
  });

  it('reports nothing generated when the environment gives every token', () => {
    const tokens = {
      WEBHOOKS_INGEST_TOKEN: 'env-ingest-token-0123456789',
      WEBHOOKS_ADMIN_TOKEN: 'env-admin-token-0123456789',
      WEBHOOKS_PLATFORM_TOKEN: 'env-platform-token-0123456789',
    };
    expect(loadConfig({ ...env, ...tokens }).generated).to.equal(undefined);
  });

  it('uses comma-separated keys from the environment, the first one first', () => {
    const { config } = loadConfig({ ...env, WEBHOOKS_ENCRYPTION_KEY: `${KEY_A},${KEY_B}` });
    expect(config.encryptionKeys.map((k) => k.toString('base64'))).to.deep.equal([KEY_A, KEY_B]);
  });

  it('stores the key given on the first load, so a load without it still opens what it sealed', () => {
    loadConfig({ ...env, WEBHOOKS_ENCRYPTION_KEY: `${KEY_A},${KEY_B}` });
    expect(JSON.parse(fs.readFileSync(credentials, 'utf8'))).to.include({ encryptionKey: KEY_A });
    const { config } = loadConfig(env);
    expect(config.encryptionKeys.map((k) => k.toString('base64'))).to.deep.equal([KEY_A]);
  });

  it('opens with the stored key too, after the keys of the environment, which seal', () => {
    const generated = loadConfig(env).config.encryptionKeys[0].toString('base64');
    const keys = (value: string) => loadConfig({ ...env, WEBHOOKS_ENCRYPTION_KEY: value }).config.encryptionKeys.map((k) => k.toString('base64'));
    expect(keys(KEY_B)).to.deep.equal([KEY_B, generated]);
    expect(keys(`${KEY_B},${generated}`), 'the stored key once').to.deep.equal([KEY_B, generated]);
    expect(keys(`${generated},${KEY_B}`)).to.deep.equal([generated, KEY_B]);
  });

  it('names WEBHOOKS_DB_URL when the key in credentials.json is not 32 bytes', () => {
    loadConfig(env);
    const creds = JSON.parse(fs.readFileSync(credentials, 'utf8')) as Record<string, string>;
    fs.writeFileSync(credentials, JSON.stringify({ ...creds, encryptionKey: randomBytes(16).toString('base64') }));
    const err = configErrorOf(() => loadConfig(env));
    expect(err.message).to.match(/^WEBHOOKS_DB_URL: .*credentials\.json is incomplete/);
  });

  it('still reports generated tokens after a start refused for another bad variable', () => {
    // The refused start must not use up the one time the tokens are printed.
    configErrorOf(() => loadConfig({ ...env, WEBHOOKS_MAX_RETRIES: 'abc' }));
    const { generated } = loadConfig(env);
    expect(generated, 'tokens generated by the refused start were never shown').to.not.equal(undefined);
  });

  it('names WEBHOOKS_DB_URL when credentials.json is not JSON', () => {
    fs.mkdirSync(path.dirname(credentials), { recursive: true });
    fs.writeFileSync(credentials, '{ "ingestToken": ', { mode: 0o600 });
    const err = configErrorOf(() => loadConfig(env));
    expect(err.message).to.match(/^WEBHOOKS_DB_URL: /);
  });
});
