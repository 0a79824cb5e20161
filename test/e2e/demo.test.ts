/**
 * `npm run demo --quick`, as a newcomer runs it (the built dist/demo/demo.js as its own process):
 * it must end by itself with exit code 0 after every matching event arrived with a verified
 * signature, show the refused-then-retried delivery under one webhook-id, stop the sidecar with
 * exit code 0, and leave no files behind.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

/** This file is dist/test/e2e/demo.test.js. */
const DEMO = path.join(__dirname, '..', '..', 'demo', 'demo.js');

describe('e2e: the demo (npm run demo -- --quick)', function () {
  this.timeout(90_000);

  it('runs the whole flow and exits 0 by itself', async () => {
    const child = spawn(process.execPath, [DEMO, '--quick'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code, `${stdout}\n${stderr}`).to.equal(0);

    for (const type of ['user.created', 'user.login', 'user.login_failed', 'security.suspicious_login']) {
      expect(stdout, type).to.match(new RegExp(`^\\[receiver\\] ✔ ${type.replace('.', '\\.')}\\s+msg_\\w+\\s+signature verified`, 'm'));
    }
    expect(stdout).to.not.match(/✔ mfa\.enabled/);
    const refused = /^\[receiver\] ↻ user\.login_failed\s+(msg_\w+)/m.exec(stdout)?.[1];
    expect(stdout).to.match(new RegExp(`✔ user\\.login_failed\\s+${refused}\\s.*\\(the retry, same webhook-id\\)`));
    expect(stdout).to.match(/^Done: 4 of 4 matching events arrived, every signature verified/m);
    expect(stdout).to.match(/^\[sidecar\] {2}stopped with SIGTERM, exit code 0$/m);
    expect(stderr).to.equal('');
    const dataDir = /on a new SQLite file in (\S+) \.\.\./.exec(stdout)?.[1];
    expect(dataDir, 'the data folder the demo named').to.be.a('string');
    expect(fs.existsSync(dataDir!), `${dataDir} is removed`).to.equal(false);
  });
});
