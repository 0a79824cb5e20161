/**
 * The operator CLI's one read of the process environment. The CLI is a client: it takes its
 * connection settings (WEBHOOKS_ADDR, the tokens, WEBHOOKS_TENANT) from this snapshot and its
 * flags, and its `db` commands parse the server's configuration from it with loadConfig().
 */
import type { Env } from './env-reader';

export function cliEnvironment(): Env {
  return Object.freeze({ ...process.env });
}
