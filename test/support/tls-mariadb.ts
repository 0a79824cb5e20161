/**
 * A MariaDB server of the test's own that requires TLS, for the tests of WEBHOOKS_DB_TLS: the
 * machine's MariaDB (WEBHOOKS_TEST_MYSQL_URL) speaks plain TCP, and changing its settings would
 * change every other test's server. This one is made from the same binaries in a temporary
 * folder (mariadb-install-db, then mariadbd on a free port of 127.0.0.1, about 2 s), with
 * require_secure_transport on, so no account can connect over TCP without TLS. Its certificate
 * names localhost until reissue() gives it another (FLUSH SSL loads it without a restart).
 * Setup goes through its Unix socket, as the server's root.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { Authority } from './certs';
import { freePort } from './free-port';
import { waitUntil } from './wait';

export interface TlsMariadb {
  readonly port: number;
  /** mysql://user:password@localhost:port/database for an account of this server. */
  url(user: string): string;
  /** Gives the server a new certificate from the same CA, for these host names. */
  reissue(hosts: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

const INSTALL_DB = ['mariadb-install-db', 'mysql_install_db'];
const SERVER = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'];
export const DATABASE = 'webhooks';
export const PASSWORD = 'tls-test-password';

/** The server's binaries, or undefined when this machine has none (a laptop without MariaDB). */
export function mariadbBinaries(): { installDb: string; server: string } | undefined {
  const onPath = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  const installDb = INSTALL_DB.map(onPath).find(Boolean);
  const server = SERVER.find((file) => fs.existsSync(file)) ?? ['mariadbd', 'mysqld'].map(onPath).find(Boolean);
  return installDb && server ? { installDb, server } : undefined;
}

/**
 * Starts the server with a certificate `authority` issued for localhost, and creates the
 * accounts: `sidecar` (REQUIRE SSL) and `x509` (REQUIRE X509: a client certificate that
 * `authority` signed), both with PASSWORD and every privilege on DATABASE.
 */
export async function startTlsMariadb(authority: Authority): Promise<TlsMariadb> {
  const binaries = mariadbBinaries();
  if (!binaries) throw new Error('no mariadb-install-db and mariadbd on this machine');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-mariadb-'));
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
    return path.join(dir, name);
  };
  const serverPem = (hosts: readonly string[]) => {
    const pem = authority.issue('mariadb', 'server', hosts);
    return { cert: file('server-cert.pem', pem.cert), key: file('server-key.pem', pem.key) };
  };
  const ca = file('ca.pem', authority.cert);
  const { cert, key } = serverPem(['localhost']);
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const user = os.userInfo().username;
  const installed = spawnSync(
    binaries.installDb,
    ['--no-defaults', `--datadir=${data}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (installed.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${binaries.installDb} failed: ${installed.stderr || installed.stdout}`);
  }
  const port = await freePort();
  const errorLog = path.join(dir, 'error.log');
  const child: ChildProcess = spawn(
    binaries.server,
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--user=${user}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      `--ssl-ca=${ca}`,
      `--ssl-cert=${cert}`,
      `--ssl-key=${key}`,
      '--require-secure-transport=ON',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  // If mocha exits without after() (a crash, --bail), the server goes too: left running, it
  // would also make .ci/run's start-stop-daemon take the machine's MariaDB for started.
  const killOnExit = () => {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  child.once('exit', () => {
    exited = true;
    process.removeListener('exit', killOnExit);
  });
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const root = () => mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
  const asRoot = async (sql: string) => {
    const conn = await root();
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };
  try {
    await waitUntil(
      async () => {
        if (exited) throw new Error(`mariadbd exited: ${fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8').slice(-2000) : ''}`);
        return root().then(
          (c) => c.end().then(() => true),
          () => false,
        );
      },
      'the TLS MariaDB to accept connections',
      30_000,
      100,
    );
    await asRoot(
        [
          // install-db's root over TCP has no password; only the socket is needed here.
          "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1'",
          `CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
          `CREATE USER 'sidecar'@'127.0.0.%' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL`,
          `CREATE USER 'x509'@'127.0.0.%' IDENTIFIED BY '${PASSWORD}' REQUIRE X509`,
          `GRANT ALL ON ${DATABASE}.* TO 'sidecar'@'127.0.0.%', 'x509'@'127.0.0.%'`,
        ].join(';'),
      );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    url: (account) => `mysql://${account}:${PASSWORD}@localhost:${port}/${DATABASE}`,
    reissue: async (hosts) => {
      serverPem(hosts);
      await asRoot('FLUSH SSL');
    },
    stop,
  };
}
