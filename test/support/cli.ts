/** Runs the operator CLI in this process, as its bin would, and collects what it prints. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Env } from '../../src/config/config';
import { run } from '../../src/cli/run';
import type { TestSidecar } from './sidecar';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRun {
  /** What has been printed so far, while the command still runs. */
  readonly output: { stdout: string; stderr: string };
  readonly done: Promise<CliResult>;
}

export function startCli(args: readonly string[], env: Env, options: { stdin?: string; signal?: AbortSignal } = {}): CliRun {
  const output = { stdout: '', stderr: '' };
  const done = run(args, {
    env,
    stdout: { write: (s: string) => (output.stdout += s) },
    stderr: { write: (s: string) => (output.stderr += s) },
    stdin: Readable.from([Buffer.from(options.stdin ?? '')]),
    signal: options.signal,
  }).then((code) => ({ code, ...output }));
  return { output, done };
}

export function runCli(args: readonly string[], env: Env, stdin?: string): Promise<CliResult> {
  return startCli(args, env, { stdin }).done;
}

/** The environment an operator's shell would have to reach this sidecar as `tenant`. */
export function cliEnv(sidecar: TestSidecar, tenant: string, extra: Env = {}): Env {
  return {
    WEBHOOKS_ADDR: `127.0.0.1:${sidecar.port}`,
    WEBHOOKS_ADMIN_TOKEN: sidecar.config.tokens.admin,
    WEBHOOKS_INGEST_TOKEN: sidecar.config.tokens.ingest,
    WEBHOOKS_PLATFORM_TOKEN: sidecar.config.tokens.platform,
    WEBHOOKS_TENANT: tenant,
    ...extra,
  };
}

/** What the Helm chart's pre-install/pre-upgrade Job runs; this file is dist/test/support/. */
const MIGRATE_CLI = path.join(__dirname, '..', '..', 'src', 'db', 'migrate-cli.js');

/** Runs `node dist/src/db/migrate-cli.js` in a process of its own with `env` (and PATH); what it printed. */
export async function runMigrateHook(env: Env): Promise<{ stdout: string }> {
  const processEnv = { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv;
  return promisify(execFile)(process.execPath, [MIGRATE_CLI], { env: processEnv, timeout: 50_000 });
}
