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

export function classifyError(err: unknown): { errorClass: ErrorClass; message: string } {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { errorClass: 'timeout', message: 'the request timed out' };
    if (typeof code === 'string') {
      const known = BY_CODE[code];
      if (known) return { errorClass: known, message: e.message };
      if (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL')) {
        return { errorClass: 'tls', message: e.message };
      }
    }
  }
  return { errorClass: 'network', message: err instanceof Error ? err.message : String(err) };
}
