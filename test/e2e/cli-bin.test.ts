/**
 * The CLI as operators run it: the built bin (package.json "bin") as its own process. It takes
 * its settings from the environment, exits with the codes the README gives, and a `deliveries
 * tail` stops cleanly (exit 0) on Ctrl-C (SIGINT).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { testDatabases, type TestDatabase } from '../support/databases';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

/** This file is dist/test/e2e/cli-bin.test.js. */
const ROOT = path.join(__dirname, '..', '..', '..');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const BIN = path.join(ROOT, PKG.bin['webhooks-sidecar']!);
const TENANT = 'tenant-cli-bin';

describe('e2e: the webhooks-sidecar bin', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sidecar: TestSidecar;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    database = testDatabases()[0]!;
    sidecar = await startSidecar(await database.create());
    env = {
      PATH: process.env.PATH,
      WEBHOOKS_ADDR: `127.0.0.1:${sidecar.port}`,
      WEBHOOKS_ADMIN_TOKEN: sidecar.config.tokens.admin,
      WEBHOOKS_TENANT: TENANT,
    };
  });

  after(async () => {
    await sidecar?.stop();
    await database?.dropAll();
  });

  it('is an executable node script named in package.json', () => {
    expect(fs.readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).to.equal(true);
  });

  it('creates and lists webhooks with settings from the environment; a refused call exits 1', async () => {
    const run = promisify(execFile);
    const created = await run(process.execPath, [BIN, 'webhooks', 'create', '--url', 'https://hooks.example.com/a', '--event-type', 'user.*', '--json'], { env });
    const { webhook } = JSON.parse(created.stdout) as { webhook: { id: string } };
    const listed = await run(process.execPath, [BIN, 'webhooks', 'list'], { env });
    expect(listed.stdout).to.match(new RegExp(`^${webhook.id}\\s+yes\\s+user\\.\\*\\s+https://hooks\\.example\\.com/a\\s+-$`, 'm'));
    const refused = await run(process.execPath, [BIN, 'webhooks', 'get', 'wh_missing'], { env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused?.code).to.equal(1);
    expect(refused?.stderr).to.match(/^error: NOT_FOUND: /);
  });

  it('deliveries tail runs until SIGINT, then exits 0', async () => {
    const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: 'https://hooks.example.com/b', eventTypes: ['*'], description: '', organizationIds: [] });
    const child = spawn(process.execPath, [BIN, 'deliveries', 'tail', webhook!.id, '--interval', '200ms'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await waitUntil(() => stdout.startsWith('CREATED'), 'the header of tail', 20_000);
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 10_000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code, stderr).to.equal(0);
  });
});
