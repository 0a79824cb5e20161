/**
 * For the configuration tests of settings that name files (the gRPC server's TLS, TLS to MySQL):
 * a MySQL-mode environment, PEM-shaped file contents, and a temporary folder per test to write
 * them into.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, parseConfig, type Config, type Env } from '../../src/config/config';
import { fillSecrets } from '../../src/config/embedded';

// Shapes only: a TLS handshake would parse them, which these tests do not reach.
export const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
export const KEY = '-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n';

export interface ConfigFiles {
  /** Writes a file into this test's folder and returns its path. */
  file(name: string, content: string): string;
  /** A path in this test's folder that nothing was written to. */
  missing(name: string): string;
  parse(env: Env): Config;
  /** The ConfigError a parse must end with. */
  errorOf(env: Env): ConfigError;
}

/** Registers mocha hooks for a fresh folder per test; `base` is merged under each env. */
export function configFiles(base: Env): ConfigFiles {
  let dir = '';
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-config-files-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const parse = (env: Env) => parseConfig({ ...base, ...env }, fillSecrets);
  return {
    file: (name, content) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
    missing: (name) => path.join(dir, name),
    parse,
    errorOf: (env) => {
      try {
        parse(env);
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error('expected a ConfigError');
    },
  };
}

/** A MySQL-mode environment with the required secrets, at `dbUrl`. */
export function mysqlEnv(dbUrl: string): Env {
  return {
    WEBHOOKS_DB_URL: dbUrl,
    WEBHOOKS_INGEST_TOKEN: 'ingest-token-0123456789',
    WEBHOOKS_ADMIN_TOKEN: 'admin-token-0123456789',
    WEBHOOKS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
}
