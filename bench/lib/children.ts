/** Child processes the bench measures: the sidecar (dist/src/main.js) or the null server. */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import type { Env } from '../../src/config/config';
import type { BenchOptions } from './report';
import { EventIngestClient } from '../../src/grpc/generated/webhooks/v1/ingest';
import { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';

const ROOT = path.join(__dirname, '..', '..', '..');

export interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  /** The ops listener (/metrics); 0 for the null server, which has none. */
  readonly metricsPort: number;
  readonly env: Env;
  /** Resident memory of the child in MB, from /proc. */
  rssMb(): number;
  stop(): Promise<void>;
}

export function benchEnv(dbUrl: string, o: Pick<BenchOptions, 'eventBodies'>, overrides: Env = {}): Env {
  return {
    WEBHOOKS_DB_URL: dbUrl,
    WEBHOOKS_EVENT_BODIES: o.eventBodies,
    WEBHOOKS_GRPC_ADDR: '127.0.0.1:0',
    WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32',
    WEBHOOKS_LOG_LEVEL: 'info',
    WEBHOOKS_METRICS_ADDR: '127.0.0.1:0',
    ...overrides,
  };
}

export function startSidecar(env: Env): Promise<Child> {
  return startChild(path.join(ROOT, 'dist', 'src', 'main.js'), env);
}

export function startNullServer(): Promise<Child> {
  return startChild(path.join(ROOT, 'dist', 'bench', 'null-server.js'), {});
}

function startChild(main: string, env: Env): Promise<Child> {
  // BENCH_CHILD_NODE_ARGS go to node before the script, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // to profile the sidecar under load (the profile is written when it exits).
  const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, main], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${main} did not start within 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${main} exited with ${code} before it started`)));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const started = buffered.split('\n').find((line) => line.includes('"webhooks sidecar started"'));
      if (!started) {
        if (buffered.length > 1_000_000) buffered = buffered.slice(-10_000);
        return;
      }
      clearTimeout(timer);
      buffered = '';
      child.stdout!.removeAllListeners('data').resume(); // keep draining, stop keeping
      const { port, metricsPort } = JSON.parse(started) as { port: number; metricsPort?: number };
      resolve({
        process: child,
        port,
        metricsPort: metricsPort ?? 0,
        env,
        rssMb: () => rssMbOf(child.pid!),
        stop: async () => {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

function rssMbOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

export function clients(child: Child): { ingest: EventIngestClient; admin: WebhookManagementClient; ingestMd: grpc.Metadata; adminMd: (tenant: string) => grpc.Metadata } {
  const addr = `127.0.0.1:${child.port}`;
  const md = (token: string | undefined, tenant?: string) => {
    const m = new grpc.Metadata();
    if (token) m.set('authorization', `Bearer ${token}`);
    if (tenant) m.set('x-tenant-id', tenant);
    return m;
  };
  return {
    ingest: new EventIngestClient(addr, grpc.credentials.createInsecure()),
    admin: new WebhookManagementClient(addr, grpc.credentials.createInsecure()),
    ingestMd: md(child.env.WEBHOOKS_INGEST_TOKEN),
    adminMd: (tenant) => md(child.env.WEBHOOKS_ADMIN_TOKEN, tenant),
  };
}
