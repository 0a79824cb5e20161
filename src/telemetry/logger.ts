import pino, { type Logger } from 'pino';
import { traceLogFields } from './trace-context';

export type { Logger };

/**
 * JSON lines on stdout. Secrets, tokens and event payloads are never passed to the logger; the
 * redaction below is a second net for the field names they would have. A line written inside a
 * span (an RPC, a delivery attempt) carries its trace_id and span_id.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'webhooks-sidecar' },
    mixin: traceLogFields,
    redact: {
      paths: ['secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', 'data', '*.data', 'payload', '*.payload'],
      censor: '[redacted]',
    },
  };
  // A destination other than stdout: tests read back every line to prove nothing leaks.
  return destination === undefined ? pino(options) : pino(options, destination);
}
