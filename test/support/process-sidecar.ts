/**
 * The sidecar as a real child process (`node dist/src/main.js`), for what an in-process sidecar
 * cannot show: kill -9, SIGTERM and several replicas on one database. The child logs JSON lines
 * on stdout; the port comes from its "webhooks sidecar started" line (it listens on port 0).
 * Call stopProcessSidecars() in afterEach: it kills -9 whatever a failed test left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Env } from '../../src/config/config';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import type { EventIngestClient } from '../../src/grpc/generated/webhooks/v1/ingest';
import type { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';
import { ingestClient, managementClient, metadataOf, promised, type Promised } from './grpc-clients';
import { testEnv } from './sidecar';

/** This file runs as dist/test/support/process-sidecar.js. */
const ROOT = path.join(__dirname, '..', '..', '..');
export const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');
const START_DEADLINE_MS = 30_000;
/** For `preload`: shifts the child's wall clock by env WEBHOOKS_TEST_CLOCK_SKEW_MS. */
export const CLOCK_SKEW_PRELOAD = path.join(__dirname, 'clock-skew-preload.js');

export interface SpawnOptions {
  /** Modules the child loads with `node --require` before the sidecar (CLOCK_SKEW_PRELOAD). */
  readonly preload?: readonly string[];
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };
type LogLine = Record<string, unknown> & { msg?: string };

/** testEnv() for a child: info logs (JSON lines on stdout) and port 0. */
export function processEnv(dbUrl: string, overrides: Env = {}): Env {
  return testEnv(dbUrl, { WEBHOOKS_LOG_LEVEL: 'info', WEBHOOKS_GRPC_ADDR: '127.0.0.1:0', ...overrides });
}

export class ProcessSidecar {
  stdout = '';
  stderr = '';
  port = 0;
  /** The port of /metrics, /healthz and /readyz. */
  metricsPort = 0;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private closed = false;
  private readonly changes = new EventEmitter();
  private clients: { ingest: EventIngestClient; management: WebhookManagementClient } | undefined;

  constructor(
    readonly env: Env,
    options: SpawnOptions = {},
  ) {
    const childEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
    const requires = (options.preload ?? []).flatMap((file) => ['--require', file]);
    this.child = spawn(process.execPath, [...requires, MAIN], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => this.append('stdout', s));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => this.append('stderr', s));
    // 'close' rather than 'exit': by then every byte of stdout and stderr has been read.
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.closed = true;
        this.changes.emit('change');
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return !this.closed;
  }

  /** Every complete JSON line logged so far. */
  logs(): LogLine[] {
    const lines = this.stdout.split('\n');
    lines.pop(); // the line being written, if any
    return lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
  }

  logged(msg: string): LogLine[] {
    return this.logs().filter((l) => l.msg === msg);
  }

  get ingest(): Promised<EventIngestClient> {
    return promised(this.connected().ingest, metadataOf(this.env.WEBHOOKS_INGEST_TOKEN));
  }

  admin(tenantId: string): Promised<WebhookManagementClient> {
    return promised(this.connected().management, metadataOf(this.env.WEBHOOKS_ADMIN_TOKEN, tenantId));
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Resolves once the output satisfies `condition`; fails if the child exits first or at the deadline. */
  waitFor(condition: () => boolean, what: string, timeoutMs = START_DEADLINE_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const check = (): void => {
        if (condition()) settle();
        else if (this.closed) settle(new Error(`the sidecar exited before ${what}`));
      };
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        this.changes.off('change', check);
        if (err) reject(new Error(`${err.message}\n--- stdout\n${this.stdout.slice(-4000)}\n--- stderr\n${this.stderr.slice(-4000)}`));
        else resolve();
      };
      this.changes.on('change', check);
      check();
    });
  }

  /** The exit, or an error naming the deadline. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    await this.waitFor(() => this.closed, 'the process to exit', timeoutMs);
    return this.exited;
  }

  closeClients(): void {
    this.clients?.ingest.close();
    this.clients?.management.close();
    this.clients = undefined;
  }

  private connected() {
    if (this.port === 0) throw new Error('the sidecar has not started yet');
    this.clients ??= { ingest: ingestClient(this.port), management: managementClient(this.port) };
    return this.clients;
  }

  private append(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    this.changes.emit('change');
  }
}

const live = new Set<ProcessSidecar>();

/** Spawns the built sidecar with `env` (see processEnv) and waits for its start line. */
export async function startProcessSidecar(env: Env, options: SpawnOptions = {}): Promise<ProcessSidecar> {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const sidecar = new ProcessSidecar(env, options);
  live.add(sidecar);
  await sidecar.waitFor(() => sidecar.logged('webhooks sidecar started').length > 0, '"webhooks sidecar started"');
  const port = Number(sidecar.logged('webhooks sidecar started')[0]!.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in the start line:\n${sidecar.stdout}`);
  sidecar.port = port;
  sidecar.metricsPort = Number(sidecar.logged('webhooks sidecar started')[0]!.metricsPort);
  return sidecar;
}

/** For afterEach: closes clients, kills -9 every child still running and waits for it. */
export async function stopProcessSidecars(): Promise<void> {
  const all = [...live];
  live.clear();
  for (const sidecar of all) {
    sidecar.closeClients();
    sidecar.kill('SIGKILL');
  }
  await Promise.all(all.map((s) => s.exited));
}

/** The test's own connection to the sidecars' database, for counts no RPC gives. */
export function openDb(dbUrl: string): Db {
  return connect(parseDbUrl(dbUrl), { poolMax: 2 });
}

export async function deliveryStatusCounts(db: Db): Promise<Record<string, number>> {
  const rows = (await db('deliveries').select('status').count({ n: '*' }).groupBy('status')) as Array<{
    status: string;
    n: number | string;
  }>;
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export interface HeldRequest {
  readonly path: string;
  readonly webhookId: string;
  /** The event id, from the JSON body. */
  readonly eventId: string;
  readonly at: number;
  /** The status it was answered with; undefined while held or when its connection was cut. */
  status?: number;
  /** Set when the sender closed the connection before an answer. */
  cut?: boolean;
}

/**
 * A receiver on 127.0.0.1, port 0, that holds every request open without answering until
 * answerAll() is called; from then on it answers at once with that status.
 */
export class HoldingReceiver {
  readonly requests: HeldRequest[] = [];
  private readonly held = new Map<HeldRequest, http.ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private answer: number | undefined;

  private constructor(private readonly server: http.Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
  }

  static async start(): Promise<HoldingReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new HoldingReceiver(server);
  }

  url(pathname = '/hooks'): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${pathname}`;
  }

  /** Requests held open right now. */
  get heldCount(): number {
    return this.held.size;
  }

  heldNow(): HeldRequest[] {
    return [...this.held.keys()];
  }

  /** Answers every request from now on with `status`; the held ones are answered too. */
  answerAll(status: number): void {
    this.answer = status;
    for (const [request, res] of this.held) this.respond(request, res);
  }

  /**
   * Cuts every open connection (those of a killed sender are dead already); the requests held
   * on them count as cut and are never answered.
   */
  destroySockets(): void {
    for (const request of this.held.keys()) request.cut = true;
    this.held.clear();
    for (const socket of this.sockets) socket.destroy();
  }

  answered(status: number): HeldRequest[] {
    return this.requests.filter((r) => r.status === status);
  }

  async close(): Promise<void> {
    this.destroySockets();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let eventId = '';
      try {
        eventId = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown }).id ?? '');
      } catch {
        // recorded with an empty event id; the test's assertions catch it
      }
      const request: HeldRequest = { path: req.url ?? '', webhookId: String(req.headers['webhook-id'] ?? ''), eventId, at: Date.now() };
      this.requests.push(request);
      if (this.answer !== undefined) return this.respond(request, res);
      this.held.set(request, res);
      res.once('close', () => {
        if (this.held.delete(request)) request.cut = true;
      });
    });
  }

  private respond(request: HeldRequest, res: http.ServerResponse): void {
    this.held.delete(request);
    if (res.destroyed) {
      request.cut = true;
      return;
    }
    request.status = this.answer;
    res.writeHead(this.answer!, { 'content-type': 'text/plain' });
    res.end('ok');
  }
}
