/**
 * TLS to MySQL: off by default (a database on the pod's network or behind a mesh); with
 * WEBHOOKS_DB_TLS the connection is encrypted and the server's certificate verified, always,
 * during the handshake, before the password is sent:
 * - `verify-ca`: it must chain to WEBHOOKS_DB_TLS_CA_FILE, whatever name it carries (Cloud SQL's
 *   certificates name the instance, not the address the pod dials). The file is required: with
 *   the public root CAs, any certificate a public CA ever issued, for any name, would pass.
 * - `verify-identity`: it must also name the host of WEBHOOKS_DB_URL, and chain to the CA file
 *   or, without one, to Node's public root CAs (RDS with its bundle, Azure, a self-managed
 *   server with a proper certificate). The host must be a DNS name: mysql2 checks the name it
 *   sends in the handshake, and an IP address is not sent, so it would check "localhost" in its
 *   place. A server reached by IP address takes verify-ca, with a CA that signs only it.
 * There is no mode that encrypts without verifying: whoever sits between the pod and the
 * database could then read every event and the database password. A server without TLS is
 * refused, never used in clear text. WEBHOOKS_DB_TLS_CERT_FILE and WEBHOOKS_DB_TLS_KEY_FILE add
 * a client certificate, for accounts created with REQUIRE X509.
 *
 * The files are read once, here, like the gRPC server's (./tls.ts): a missing file stops the
 * start with a message naming its variable.
 */
import { isIP } from 'node:net';
import { ConfigError, type EnvReader } from './env-reader';
import { readPem } from './tls';

export type DbTlsMode = 'verify-ca' | 'verify-identity';

export interface DbTls {
  readonly mode: DbTlsMode;
  /** PEM CA certificate(s) the server's certificate must chain to; undefined: Node's public roots (verify-identity only). */
  readonly ca: Buffer | undefined;
  /** A client certificate and its key, or neither. */
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
}

const MODE = 'WEBHOOKS_DB_TLS';
const CA = 'WEBHOOKS_DB_TLS_CA_FILE';
const CERT = 'WEBHOOKS_DB_TLS_CERT_FILE';
const KEY = 'WEBHOOKS_DB_TLS_KEY_FILE';
const MODES = ['off', 'verify-ca', 'verify-identity'];

/**
 * undefined: plain TCP. `host` is WEBHOOKS_DB_URL's MySQL host; undefined for SQLite, which has
 * no connection to secure.
 */
export function parseDbTls(read: EnvReader, host: string | undefined): DbTls | undefined {
  const mode = read.oneOf(MODE, 'off', MODES);
  const ca = read.with(CA, '', (v) => readPem(v, 'CERTIFICATE'));
  const cert = read.with(CERT, '', (v) => readPem(v, 'CERTIFICATE'));
  const key = read.with(KEY, '', (v) => readPem(v, 'PRIVATE KEY'));
  if (mode === 'off') {
    const stray = [ca && CA, cert && CERT, key && KEY].find(Boolean);
    // A CA given with TLS left off would connect in clear text while looking secured.
    if (stray) throw new ConfigError(`${stray}: needs ${MODE}=verify-ca or verify-identity`);
    return undefined;
  }
  if (host === undefined) throw new ConfigError(`${MODE}: applies to a mysql:// WEBHOOKS_DB_URL only`);
  if (mode === 'verify-ca' && ca === undefined) {
    throw new ConfigError(`${CA}: is required with ${MODE}=verify-ca (the public root CAs would accept any certificate they issued)`);
  }
  if (mode === 'verify-identity' && isIP(host) !== 0) {
    throw new ConfigError(
      `${MODE}: verify-identity needs WEBHOOKS_DB_URL to name the server by a DNS name its certificate carries, not the address ${host}; for a server reached by address, use verify-ca`,
    );
  }
  if (cert !== undefined && key === undefined) throw new ConfigError(`${KEY}: is required when ${CERT} is set`);
  if (key !== undefined && cert === undefined) throw new ConfigError(`${CERT}: is required when ${KEY} is set`);
  return Object.freeze({ mode: mode as DbTlsMode, ca, cert, key });
}
