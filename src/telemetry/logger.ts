import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Secrets, tokens and event payloads are never passed to the logger; the
 * redaction below is a second net for the field names they would have.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'webhooks-sidecar' },
    redact: {
      paths: ['secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', 'data', '*.data', 'payload', '*.payload'],
      censor: '[redacted]',
    },
  });
}
