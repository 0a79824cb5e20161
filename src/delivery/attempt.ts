/** What one HTTP attempt did: the data an attempt row records. Failures are data, not exceptions. */
export interface AttemptResult {
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** Null when no response came. */
  readonly statusCode: number | null;
  /** The start of the response body (RESPONSE_BODY_LIMIT bytes at most). */
  readonly responseBody: string | null;
  readonly responseHeaders: Record<string, string>;
  /** Null after a 2xx. */
  readonly errorClass: ErrorClass | null;
  readonly errorMessage: string | null;
}

export type ErrorClass =
  | 'http_status'
  | 'redirect'
  | 'timeout'
  | 'dns'
  | 'connection_refused'
  | 'connection_reset'
  | 'tls'
  | 'destination_refused'
  | 'network'
  | 'internal';

/** Stored response bodies are cut here: enough to read an error page, never a memory risk. */
export const RESPONSE_BODY_LIMIT = 4_096;

export function isSuccess(result: AttemptResult): boolean {
  return result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
}

/** An attempt that ended before any request was made. */
export function failedBeforeSending(errorClass: ErrorClass, errorMessage: string): AttemptResult {
  return {
    startedAt: Date.now(),
    durationMs: 0,
    statusCode: null,
    responseBody: null,
    responseHeaders: {},
    errorClass,
    errorMessage,
  };
}
