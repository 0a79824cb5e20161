/** Sorts a failed request into the error classes recorded on attempts. */
import type { ErrorClass } from './attempt';

const BY_CODE: Record<string, ErrorClass> = {
  EDESTINATIONREFUSED: 'destination_refused',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  UND_ERR_CLOSED: 'connection_reset',
};

/**
 * OpenSSL's certificate verification failures, under the codes Node gives them (the X509
 * certificate error codes of Node's tls docs). Their names share no prefix: a missing
 * intermediate (UNABLE_TO_VERIFY_LEAF_SIGNATURE) was recorded as `network`. OUT_OF_MEM is left
 * out: it says nothing about the endpoint.
 */
const X509_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

export function classifyError(err: unknown): { errorClass: ErrorClass; message: string } {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { errorClass: 'timeout', message: 'the request timed out' };
    if (typeof code === 'string') {
      const known = BY_CODE[code];
      if (known) return { errorClass: known, message: e.message };
      if (X509_VERIFY_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
        return { errorClass: 'tls', message: e.message };
      }
    }
  }
  return { errorClass: 'network', message: err instanceof Error ? err.message : String(err) };
}
