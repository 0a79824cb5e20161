/**
 * `npm run demo`: the whole flow in a minute. It starts the sidecar on a new SQLite file, a
 * receiver that verifies signatures with the `standardwebhooks` library, registers a webhook and
 * publishes a few identity events with the operator CLI (printing each command as you would type
 * it), waits until every matching event has arrived verified, shows the delivery history and the
 * statistics, then stops the sidecar with SIGTERM and removes its files.
 *
 *   --quick  no pauses between steps and retries 100 ms apart (the test runs this)
 *   --keep   keep the sidecar running at the end, to try the CLI against it (Ctrl-C stops)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { run } from '../src/cli/run';
import { VerifyingReceiver } from './receiver';
import { DemoSidecar } from './sidecar-process';

const TENANT = 'acme';
const EVENTS = [
  { type: 'user.created', data: { user_id: 'u-1001', email: 'ada@example.com', source: 'self_registration' } },
  { type: 'user.login', data: { user_id: 'u-1001', auth_method: 'password', ip_address: '203.0.113.7' } },
  { type: 'user.login_failed', data: { reason: 'invalid_credentials', username: 'ada', failed_attempts: 3 } },
  { type: 'security.suspicious_login', data: { user_id: 'u-1001', severity: 'high', risk_score: 87 } },
  // No webhook asks for mfa.*: stored, delivered to nobody.
  { type: 'mfa.enabled', data: { user_id: 'u-1001', method: 'totp' } },
];
const SUBSCRIBED = ['user.*', 'security.*'];
const EXPECTED = EVENTS.filter((e) => SUBSCRIBED.some((s) => e.type.startsWith(s.slice(0, -1)))).length;
/** This type's first attempt is refused with 503 by the receiver, to show a retry. */
const REFUSED_ONCE = 'user.login_failed';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const indent = (text: string): string => text.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');

type CliEnv = Record<string, string>;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, keep: { type: 'boolean' } } });
  const quick = values.quick === true;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-demo-'));
  const receiver = await VerifyingReceiver.start((line) => say(`[receiver] ${line}`), REFUSED_ONCE);
  let sidecar: DemoSidecar | undefined;
  try {
    say(`Starting the sidecar on a new SQLite file in ${dataDir} ...`);
    const started = await DemoSidecar.start(dataDir, {
      WEBHOOKS_GRPC_ADDR: '127.0.0.1:0',
      WEBHOOKS_METRICS_ADDR: '127.0.0.1:0',
      // The receiver runs on loopback, which the private-network block refuses otherwise.
      WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32',
      WEBHOOKS_RETRY_BASE_MS: quick ? '100' : '2000',
      WEBHOOKS_LOG_LEVEL: 'info',
    });
    sidecar = started.sidecar;
    const creds = sidecar.credentials();
    const env = { WEBHOOKS_ADDR: `127.0.0.1:${started.port}`, WEBHOOKS_ADMIN_TOKEN: creds.adminToken, WEBHOOKS_INGEST_TOKEN: creds.ingestToken, WEBHOOKS_TENANT: TENANT };
    say(`[sidecar]  gRPC on 127.0.0.1:${started.port}; tokens generated into ${path.join(dataDir, 'credentials.json')}`);
    say(`[receiver] listening on ${receiver.url}, verifying with the standardwebhooks library`);
    const ok = await flow(env, receiver, quick);
    if (values.keep === true) await keepRunning(env);
    return ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n${sidecar ? `--- the sidecar's last lines\n${sidecar.tail()}\n` : ''}`);
    return 1;
  } finally {
    const code = await sidecar?.stop();
    if (code !== undefined) say(`[sidecar]  stopped with SIGTERM, exit code ${code}`);
    await receiver.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Create the webhook, publish, wait for the receiver, show history and stats; true when all arrived verified. */
async function flow(env: CliEnv, receiver: VerifyingReceiver, quick: boolean): Promise<boolean> {
  // Pauses let a person read along; --quick has none.
  const pause = (): Promise<unknown> => (quick ? Promise.resolve() : delay(800));
  await pause();
  const subscribe = SUBSCRIBED.flatMap((t) => ['--event-type', t]);
  const created = JSON.parse(await cli(env, ['webhooks', 'create', '--url', receiver.url, ...subscribe, '--description', 'demo receiver', '--json'])) as {
    webhook: { id: string };
    secret: string;
  };
  receiver.secret = created.secret;
  const webhookId = created.webhook.id;
  say(indent(`webhook ${webhookId}, signing secret ${created.secret.slice(0, 12)}... (the receiver keeps it)`));
  await pause();

  const events = EVENTS.map((e, i) => ({ id: `evt-demo-${i + 1}`, tenant_id: TENANT, ...e }));
  say(indent(await cli(env, ['events', 'publish', '-'], events.map((e) => JSON.stringify(e)).join('\n'))));
  await waitFor(() => receiver.verified.length >= EXPECTED, `${EXPECTED} verified deliveries`, quick ? 20_000 : 40_000);
  await waitForFinished(env, webhookId);
  await pause();

  say(indent(await cli(env, ['deliveries', 'list', '--webhook', webhookId])));
  say(indent(await cli(env, ['stats', webhookId])));
  const ok = receiver.verified.length === EXPECTED && receiver.rejected === 0;
  say();
  say(`${ok ? 'Done' : 'Something is off'}: ${receiver.verified.length} of ${EXPECTED} matching events arrived, every signature verified; ` +
    `${EVENTS.length - EXPECTED} event matched no webhook; "${REFUSED_ONCE}" was refused once and retried.`);
  return ok;
}

/** Runs one CLI command in this process, printing it as typed; returns what it printed. */
async function cli(env: CliEnv, args: string[], stdin = ''): Promise<string> {
  say();
  say(`$ webhooks-sidecar ${args.map((a) => (/^[\w./:@-]+$/.test(a) ? a : `'${a}'`)).join(' ')}${stdin === '' ? '' : ' < events.jsonl'}`);
  let out = '';
  let err = '';
  const code = await run(args, { env, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, stdin: Readable.from([stdin]) });
  if (code !== 0) throw new Error(`webhooks-sidecar ${args.join(' ')} exited with ${code}: ${err}`);
  return out;
}

/** The receiver has them once its 2xx is sent; the sidecar records each success just after. */
async function waitForFinished(env: CliEnv, webhookId: string): Promise<void> {
  await waitFor(async () => {
    let out = '';
    const io = { env, stdout: { write: (s: string) => (out += s) }, stderr: process.stderr, stdin: Readable.from(['']) };
    const code = await run(['deliveries', 'list', '--webhook', webhookId, '--status', 'pending', '--json'], io);
    return code === 0 && (JSON.parse(out) as { deliveries: unknown[] }).deliveries.length === 0;
  }, 'every delivery recorded', 10_000);
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
}

async function keepRunning(env: CliEnv): Promise<void> {
  say();
  say('The sidecar keeps running. In another shell (from this folder, after npm run build):');
  for (const [k, v] of Object.entries(env)) say(`  export ${k}=${v}`);
  say('  npm run cli -- deliveries list');
  say('Ctrl-C stops it.');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
