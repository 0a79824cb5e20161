/**
 * TLS for the gRPC server: off by default (a sidecar usually talks over the pod's loopback, or a
 * service mesh adds mTLS); on with a certificate and its key; mutual with a client CA, in which
 * case every client must present a certificate that CA signed. Bearer tokens are checked on top
 * either way: a certificate says which machine calls, the token which role it plays.
 *
 * The files are read once, here, so a missing or unreadable file stops the start with a message
 * naming its variable instead of failing at the first connection.
 */
import fs from 'node:fs';
import { ConfigError, type EnvReader } from './env-reader';

export interface TlsConfig {
  /** PEM certificate chain of the server. */
  readonly cert: Buffer;
  /** PEM private key of the server. */
  readonly key: Buffer;
  /** PEM CA certificate(s) that client certificates must chain to; undefined: no client certificates. */
  readonly clientCa: Buffer | undefined;
}

const CERT = 'WEBHOOKS_TLS_CERT_FILE';
const KEY = 'WEBHOOKS_TLS_KEY_FILE';
const CLIENT_CA = 'WEBHOOKS_TLS_CLIENT_CA_FILE';

export function parseTls(read: EnvReader): TlsConfig | undefined {
  const cert = read.with(CERT, '', (v) => readPem(v, 'CERTIFICATE'));
  const key = read.with(KEY, '', (v) => readPem(v, 'PRIVATE KEY'));
  const clientCa = read.with(CLIENT_CA, '', (v) => readPem(v, 'CERTIFICATE'));
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new ConfigError(`${CLIENT_CA}: needs ${CERT} and ${KEY} as well`);
    return undefined;
  }
  if (cert === undefined) throw new ConfigError(`${CERT}: is required when ${KEY} is set`);
  if (key === undefined) throw new ConfigError(`${KEY}: is required when ${CERT} is set`);
  return Object.freeze({ cert, key, clientCa });
}

/** The file's bytes, which must hold a PEM block of `kind` ("PRIVATE KEY" matches RSA/EC ones too). */
export function readPem(file: string, kind: string): Buffer | undefined {
  if (file === '') return undefined;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(bytes.toString('latin1'))) {
    throw new Error(`${file} holds no PEM ${kind}`);
  }
  return bytes;
}
