/**
 * The Dockerfile's stages, run without a Docker engine (none runs here; see README "Docker"): a
 * build context made as .dockerignore says, then the build stage's `npm ci`, `npm run build` and
 * `npm prune --omit=dev` for real, then the runtime stage's COPY --from lines into a folder of its
 * own. That folder must hold production dependencies only; the entrypoint started there as the
 * image's USER (setpriv, when this runs as root) must serve gRPC health, pass the Dockerfile's own
 * HEALTHCHECK command, write nowhere but data/, and exit 0 on SIGTERM through tini when tini is
 * installed here. Slow by nature (a clean npm ci builds better-sqlite3): about 3 minutes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { service as healthService } from 'grpc-health-check';
import { lastOf, readDockerfile, readDockerignore, ROOT, type ParsedDockerfile } from '../support/dockerfile';
import { inStage, makeContext, runStages, type RunReport, type StageState } from '../support/docker-steps';
import { freePort } from '../support/free-port';
import { waitUntil } from '../support/wait';

const HealthClient = grpc.makeGenericClientConstructor(healthService, 'Health');

describe('e2e: the Dockerfile, step by step without Docker', function () {
  this.timeout(15 * 60_000);
  let tmp: string;
  let df: ParsedDockerfile;
  let report: RunReport;
  let runtime: StageState;
  const log = (line: string): void => void process.stdout.write(`      ${line}\n`);

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-docker-'));
    fs.chmodSync(tmp, 0o755); // the image's user must reach the runtime folder
    df = readDockerfile();
    const context = path.join(tmp, 'context');
    log(`context: ${makeContext(context, readDockerignore())} files`);
    report = await runStages(df, context, path.join(tmp, 'stages'), log);
    runtime = [...report.states.values()].pop()!;
    for (const t of report.timings.filter((t) => t.ms > 1000)) log(`${(t.ms / 1000).toFixed(1)} s  ${t.step}`);
    for (const s of report.skipped) log(`skipped (needs the image's root filesystem): ${s}`);
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('leaves production dependencies only in the runtime stage, with the native build, dist/ and proto/', () => {
    const app = inStage(runtime, '.');
    // The lockfile marks what only dev dependencies need ("dev": true): none of it may be
    // there, and everything else must (optional packages go by platform, so they are left out).
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
    const entries = Object.entries(lock.packages).filter(([p, info]) => p.startsWith('node_modules/') && info.optional !== true);
    const present = (p: string): boolean => fs.existsSync(path.join(app, p));
    expect(entries.filter(([p, info]) => info.dev === true && present(p)).map(([p]) => p), 'dev-only packages in the image').to.deep.equal([]);
    expect(entries.filter(([p, info]) => info.dev !== true && !present(p)).map(([p]) => p), 'production packages missing').to.deep.equal([]);
    expect(entries.filter(([, info]) => info.dev === true).length, 'the lockfile has dev-only packages to leave out').to.be.greaterThan(50);
    expect(fs.existsSync(path.join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).to.equal(true);
    expect(fs.readdirSync(path.join(app, 'dist/db/migrations')).some((f) => f.endsWith('.js'))).to.equal(true);
    expect(fs.readdirSync(path.join(app, 'proto/webhooks/v1')).sort()).to.include.members(['event.proto', 'ingest.proto', 'management.proto']);
    // Server reflection serves these (src/grpc/reflection.ts), not the .proto files.
    expect(fs.readdirSync(path.join(app, 'dist/src/grpc')), 'descriptor sets').to.include.members(['webhooks.binpb', 'health.binpb']);
    expect(fs.readdirSync(path.join(app, 'dist')).sort(), 'no tests or sources in the image').to.deep.equal(['db', 'src']);
    expect(fs.existsSync(path.join(app, 'src'))).to.equal(false);
  });

  it('starts as the image user, answers health checks (its own HEALTHCHECK too), writes only data/, stops on SIGTERM', async () => {
    const app = inStage(runtime, '.');
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    const env = { PATH: process.env.PATH ?? '', ...runtime.env, WEBHOOKS_GRPC_ADDR: `127.0.0.1:${grpcPort}`, WEBHOOKS_METRICS_ADDR: `127.0.0.1:${metricsPort}` };
    const asUser = userPrefix(runtime.user, log);
    const entrypoint = lastOf(runtime.stage, 'ENTRYPOINT')!.exec!;
    const tini = fs.existsSync(entrypoint[0]!) ? entrypoint : (log(`${entrypoint[0]} is not installed here: starting without it`), []);
    const before = filesOutside(app, 'data');
    const argv = [...asUser, ...tini, ...lastOf(runtime.stage, 'CMD')!.exec!];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitUntil(() => output.includes('"msg":"webhooks sidecar started"') || child.exitCode !== null, 'the start line', 60_000);
      expect(output, 'the sidecar started').to.include('"msg":"webhooks sidecar started"');

      for (const service of ['', 'webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement']) {
        expect(await grpcHealth(`127.0.0.1:${grpcPort}`, service), `health of "${service}"`).to.equal('SERVING');
      }
      const check = lastOf(runtime.stage, 'HEALTHCHECK')!.exec!;
      const healthcheck = await runAs([...asUser, ...check], app, env);
      expect(healthcheck.code, healthcheck.output).to.equal(0);
      expect(healthcheck.output).to.match(new RegExp(`http://127\\.0\\.0\\.1:${metricsPort}/healthz: 200 `));
      expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).to.equal(200);
      // The CLI in the image, with the credentials embedded mode generated into data/.
      const creds = JSON.parse(fs.readFileSync(path.join(app, 'data/credentials.json'), 'utf8')) as { adminToken: string };
      const types = await runAs([...asUser, 'node', 'dist/src/cli/main.js', 'events', 'types', '--json'], app, { ...env, WEBHOOKS_ADDR: `127.0.0.1:${grpcPort}`, WEBHOOKS_ADMIN_TOKEN: creds.adminToken, WEBHOOKS_TENANT: 'acme' });
      expect(types.code, types.output).to.equal(0);
      expect((JSON.parse(types.output) as { eventTypes: unknown[] }).eventTypes.length).to.be.greaterThan(20);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('no exit in 20 s'), 20_000))]), output.slice(-3000)).to.equal(0);
    expect(filesOutside(app, 'data'), 'files written outside data/').to.deep.equal(before);
  });
});

/** setpriv to the Dockerfile's USER when this runs as root; otherwise that part is skipped. */
function userPrefix(user: string | undefined, log: (line: string) => void): string[] {
  const [uid, gid] = (user ?? '').split(':');
  if (uid === undefined || uid === '') throw new Error('the runtime stage has no USER');
  if (process.getuid?.() !== 0) {
    log(`not root here: running as uid ${process.getuid?.()} instead of the image's ${user}`);
    return [];
  }
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', '--'];
}

function runAs(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('close', (code) => resolve({ code, output }));
  });
}

function grpcHealth(addr: string, service: string): Promise<string> {
  const client = new HealthClient(addr, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.check({ service }, { deadline: new Date(Date.now() + 5_000) }, (err: grpc.ServiceError | null, res: { status: string }) =>
      err ? reject(err) : resolve(res.status),
    );
  }).finally(() => client.close());
}

/** Every file and its size outside `except`, to show the process wrote nothing there. */
function filesOutside(dir: string, except: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f !== except && !f.startsWith(`${except}/`))
    .map((f) => `${f} ${fs.lstatSync(path.join(dir, f)).size}`)
    .sort();
}
