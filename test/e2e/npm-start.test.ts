/**
 * What a new user does: `npm start` (the built entry point) in an empty folder, no tokens given.
 * It must print the generated tokens once, answer grpcurl-style reflection and health checks,
 * take a CreateWebhook with the printed admin token, keep its data across a restart, and stop
 * cleanly on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';
import { metadataOf, promised } from '../support/grpc-clients';

/** This file runs as dist/test/e2e/npm-start.test.js. */
const ROOT = path.join(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');
const REFLECTION_PROTO = path.join(
  ROOT, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto',
);
const STARTED = /"msg":"webhooks sidecar started"/;
const DEADLINE_MS = 20_000;

/** The sidecar as a child process, with its output collected as it comes. */
class SidecarProcess {
  stdout = '';
  stderr = '';
  private closed = false;
  private readonly events = new EventEmitter();
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [MAIN], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => this.append('stdout', s));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => this.append('stderr', s));
    // 'close' rather than 'exit': by then every byte of stdout and stderr has been read.
    this.exit = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.closed = true;
        this.events.emit('change');
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves as soon as the output satisfies `condition`; fails on exit or at the deadline. */
  waitFor(condition: () => boolean, what: string, timeoutMs = DEADLINE_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const check = (): void => {
        if (condition()) settle();
        else if (this.closed) settle(new Error(`the sidecar exited before ${what}`));
      };
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        this.events.off('change', check);
        if (err) reject(new Error(`${err.message}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`));
        else resolve();
      };
      this.events.on('change', check);
      check();
    });
  }

  async waitForExit(timeoutMs = DEADLINE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.waitFor(() => this.closed, 'the process to exit', timeoutMs);
    return this.exit;
  }

  private append(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    this.events.emit('change');
  }
}

/**
 * A port free now, below Linux's ephemeral range (32768 and up): the tests start a sidecar on it
 * twice, and in between a port handed out for port 0 (the sidecar's own metrics listener, any
 * client's socket) could otherwise take it (EADDRINUSE on the restart, seen once in CI).
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function tokenIn(stderr: string, name: string): string {
  const match = new RegExp(`^\\s*${name}=(\\S+)$`, 'm').exec(stderr);
  expect(match, `${name}= in stderr:\n${stderr}`).to.not.equal(null);
  return match![1];
}

function countOf(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** A dynamic client of `service` (e.g. grpc.health.v1.Health) loaded from a .proto file. */
function dynamicClient<C>(protoFile: string, service: string, port: number): C & grpc.Client {
  const definition = protoLoader.loadSync(protoFile, { keepCase: true, enums: String, defaults: true, oneofs: true });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as grpc.ServiceClientConstructor;
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as C & grpc.Client;
}

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}
interface ReflectionClient {
  ServerReflectionInfo(options: grpc.CallOptions): grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;
}
interface HealthClient {
  Check(
    req: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

/** Like grpcurl: one ServerReflectionInfo stream, one response per request. */
async function reflect(port: number, requests: Array<Record<string, string>>): Promise<ReflectionResponse[]> {
  const client = dynamicClient<ReflectionClient>(REFLECTION_PROTO, 'grpc.reflection.v1alpha.ServerReflection', port);
  try {
    return await new Promise((resolve, reject) => {
      const responses: ReflectionResponse[] = [];
      const call = client.ServerReflectionInfo({ deadline: Date.now() + 10_000 });
      call.on('data', (res: ReflectionResponse) => {
        if (responses.push(res) === requests.length) call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve(responses));
      for (const req of requests) call.write(req);
    });
  } finally {
    client.close();
  }
}

async function healthOf(port: number, service: string): Promise<string> {
  const client = dynamicClient<HealthClient>(HEALTH_PROTO, 'grpc.health.v1.Health', port);
  try {
    return await new Promise((resolve, reject) => {
      client.Check({ service }, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res.status)));
    });
  } finally {
    client.close();
  }
}

function adminOf(port: number, token: string) {
  const client = new WebhookManagementClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { client, calls: promised(client, metadataOf(token, 'demo')) };
}

describe('e2e: npm start in an empty folder', function () {
  this.timeout(60_000);
  let dir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  const started: SidecarProcess[] = [];

  const start = (extra: NodeJS.ProcessEnv = {}): SidecarProcess => {
    const sidecar = new SidecarProcess(dir, { ...env, ...extra });
    started.push(sidecar);
    return sidecar;
  };
  const waitStarted = (sidecar: SidecarProcess) =>
    sidecar.waitFor(() => STARTED.test(sidecar.stdout), '"webhooks sidecar started"');
  const stop = async (sidecar: SidecarProcess) => {
    sidecar.child.kill('SIGTERM');
    const { code, signal } = await sidecar.waitForExit();
    expect({ code, signal }, sidecar.stderr).to.deep.equal({ code: 0, signal: null });
  };

  before(() => {
    expect(fs.existsSync(MAIN), `${MAIN} (run npm run build first)`).to.equal(true);
  });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-e2e-'));
    port = await freePort();
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WEBHOOKS_DB_URL: `sqlite:${path.join(dir, 'data', 'webhooks.db')}`,
      WEBHOOKS_GRPC_ADDR: `127.0.0.1:${port}`,
      WEBHOOKS_METRICS_ADDR: '127.0.0.1:0',
    };
  });

  afterEach(async () => {
    for (const sidecar of started.splice(0)) {
      if (sidecar.running) sidecar.child.kill('SIGKILL');
      await sidecar.exit;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints generated tokens once, serves health and CreateWebhook, exits 0 on SIGTERM', async () => {
    const sidecar = start();
    await waitStarted(sidecar);
    await sidecar.waitFor(() => /WEBHOOKS_PLATFORM_TOKEN=/.test(sidecar.stderr), 'the generated tokens on stderr');
    expect(countOf(sidecar.stderr, 'WEBHOOKS_INGEST_TOKEN=')).to.equal(1);
    expect(countOf(sidecar.stderr, 'WEBHOOKS_ADMIN_TOKEN=')).to.equal(1);
    const adminToken = tokenIn(sidecar.stderr, 'WEBHOOKS_ADMIN_TOKEN');
    expect(tokenIn(sidecar.stderr, 'WEBHOOKS_INGEST_TOKEN')).to.not.equal(adminToken);
    expect(sidecar.stdout, 'tokens must stay out of the logs').to.not.include(adminToken);
    expect(fs.existsSync(path.join(dir, 'data', 'credentials.json'))).to.equal(true);

    expect(await healthOf(port, '')).to.equal('SERVING');
    expect(await healthOf(port, 'webhooks.v1.EventIngest')).to.equal('SERVING');

    const admin = adminOf(port, adminToken);
    try {
      const created = await admin.calls.createWebhook({
        url: 'https://example.com/hooks', eventTypes: ['user.login'], description: 'e2e', organizationIds: [],
      });
      expect(created.webhook?.id).to.be.a('string').and.not.equal('');
      expect(created.secret).to.match(/^whsec_/);
    } finally {
      admin.client.close();
    }
    await stop(sidecar);
  });

  it('answers server reflection like `grpcurl -plaintext localhost:PORT list`', async () => {
    const sidecar = start();
    await waitStarted(sidecar);
    const [listed, symbol] = await reflect(port, [
      { list_services: '' },
      { file_containing_symbol: 'webhooks.v1.EventIngest' },
    ]);
    expect(symbol.error_response, JSON.stringify(symbol.error_response)).to.equal(undefined);
    const files = symbol.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(files).to.have.length.greaterThan(0);
    expect(Buffer.concat(files).includes('EventIngest')).to.equal(true);
    await stop(sidecar);
    const names = (listed.list_services_response?.service ?? []).map((s) => s.name);
    expect(names).to.include.members(['webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement', 'grpc.health.v1.Health']);
  });

  it('restarts in the same folder without printing tokens, with the webhook still there', async () => {
    const first = start();
    await waitStarted(first);
    await first.waitFor(() => /WEBHOOKS_ADMIN_TOKEN=/.test(first.stderr), 'the generated tokens on stderr');
    const adminToken = tokenIn(first.stderr, 'WEBHOOKS_ADMIN_TOKEN');
    const before = adminOf(port, adminToken);
    let webhookId: string;
    try {
      const created = await before.calls.createWebhook({
        url: 'https://example.com/hooks', eventTypes: ['security.*'], description: 'kept', organizationIds: [],
      });
      webhookId = created.webhook!.id;
    } finally {
      before.client.close();
    }
    await stop(first);

    const second = start();
    await waitStarted(second);
    const after = adminOf(port, adminToken);
    try {
      const { webhooks } = await after.calls.listWebhooks({ pageSize: 0, pageToken: '' });
      expect(webhooks.map((w) => w.id)).to.deep.equal([webhookId]);
    } finally {
      after.client.close();
    }
    await stop(second);
    // Checked after exit, when every byte of stderr has been read.
    expect(second.stderr).to.not.match(/WEBHOOKS_(INGEST|ADMIN|PLATFORM)_TOKEN=/);
  });

  it('refuses a bad variable: exits non-zero naming WEBHOOKS_MAX_RETRIES', async () => {
    const sidecar = start({ WEBHOOKS_MAX_RETRIES: 'abc' });
    const { code } = await sidecar.waitForExit();
    expect(code).to.not.equal(0).and.not.equal(null);
    expect(sidecar.stderr).to.include('WEBHOOKS_MAX_RETRIES');
    expect(sidecar.stdout).to.not.match(STARTED);
  });

  it('prints the tokens on the first good start after a refused one', async () => {
    const refused = start({ WEBHOOKS_MAX_RETRIES: 'abc' });
    expect((await refused.waitForExit()).code).to.not.equal(0);
    const sidecar = start();
    await waitStarted(sidecar);
    await stop(sidecar);
    expect(sidecar.stderr, 'the tokens were generated but never shown').to.include('WEBHOOKS_ADMIN_TOKEN=');
  });
});
