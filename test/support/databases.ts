/**
 * The same suite on every database: SQLite always, MySQL/MariaDB when WEBHOOKS_TEST_MYSQL_URL is
 * set (e.g. mysql://root@127.0.0.1:3306/test). Each test database is new and dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knex from 'knex';
import { parseDbUrl } from '../../src/config/db-url';

export interface TestDatabase {
  readonly name: 'sqlite' | 'mysql';
  /** A WEBHOOKS_DB_URL for a fresh, empty database. */
  create(): Promise<string>;
  /** Drops every database create() made. */
  dropAll(): Promise<void>;
}

export const MYSQL_URL = process.env.WEBHOOKS_TEST_MYSQL_URL;

export function testDatabases(): TestDatabase[] {
  const dbs: TestDatabase[] = [sqliteDatabase()];
  if (MYSQL_URL) dbs.push(mysqlDatabase(MYSQL_URL));
  return dbs;
}

/** describe() the suite once per database. */
export function forEachDatabase(title: string, suite: (db: TestDatabase) => void): void {
  for (const db of testDatabases()) {
    describe(`${title} [${db.name}]`, function () {
      after(() => db.dropAll());
      suite(db);
    });
  }
}

function sqliteDatabase(): TestDatabase {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    create: () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-test-'));
      dirs.push(dir);
      return Promise.resolve(`sqlite:${path.join(dir, 'webhooks.db')}`);
    },
    dropAll: () => {
      for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

function mysqlDatabase(url: string): TestDatabase {
  const names: string[] = [];
  const admin = () => knex({ client: 'mysql2', connection: serverConnection(url), pool: { min: 0, max: 1 } });
  return {
    name: 'mysql',
    create: async () => {
      const name = `webhooks_test_${randomBytes(6).toString('hex')}`;
      const db = admin();
      try {
        await db.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      } finally {
        await db.destroy();
      }
      names.push(name);
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    dropAll: async () => {
      const db = admin();
      try {
        for (const name of names.splice(0)) await db.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await db.destroy();
      }
    },
  };
}

function serverConnection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/**
 * Embedded mode (SQLite) also opens with the key its data folder's credentials.json holds, the
 * one its first start used. This puts an unrelated key there, as an older version left it, so
 * that the configured keys alone decide what opens; on MySQL there is no such file.
 */
export function replaceStoredKey(dbUrl: string): void {
  const target = parseDbUrl(dbUrl);
  if (target.kind !== 'sqlite') return;
  const file = path.join(target.dataDir, 'credentials.json');
  const creds = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  fs.writeFileSync(file, JSON.stringify({ ...creds, encryptionKey: randomBytes(32).toString('base64') }), { mode: 0o600 });
}
