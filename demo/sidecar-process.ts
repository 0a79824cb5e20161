/**
 * The demo's sidecar: `node dist/src/main.js` as its own process on a new SQLite file, exactly
 * as `npm start` runs it. Its JSON log lines are kept (and shown only if something goes wrong);
 * the port comes from its "webhooks sidecar started" line, since it listens on port 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** This file is dist/demo/sidecar-process.js. */
const MAIN = path.join(__dirname, '..', 'src', 'main.js');
const START_DEADLINE_MS = 30_000;

export interface Credentials {
  readonly ingestToken: string;
  readonly adminToken: string;
}

export class DemoSidecar {
  private output = '';
  private readonly closed: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.output += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.output += s));
    this.closed = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  static async start(dataDir: string, env: Record<string, string>): Promise<{ sidecar: DemoSidecar; port: number }> {
    const child = spawn(process.execPath, [MAIN], {
      // Only what the demo sets: nothing of the caller's WEBHOOKS_* environment leaks in.
      env: { WEBHOOKS_DB_URL: `sqlite:${path.join(dataDir, 'webhooks.db')}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const sidecar = new DemoSidecar(child, dataDir);
    const port = await sidecar.waitForPort();
    return { sidecar, port };
  }

  /** Embedded mode generated these on the first start (data folder, credentials.json, mode 0600). */
  credentials(): Credentials {
    return JSON.parse(fs.readFileSync(path.join(this.dataDir, 'credentials.json'), 'utf8')) as Credentials;
  }

  /** The last lines it printed, for when something went wrong. */
  tail(lines = 20): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, as Kubernetes stops a pod; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.closed;
  }

  private waitForPort(): Promise<number> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(`it did not start within ${START_DEADLINE_MS} ms`), START_DEADLINE_MS);
      const check = (): void => {
        const line = this.output.split('\n').find((l) => l.includes('"msg":"webhooks sidecar started"'));
        if (line === undefined || settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(Number((JSON.parse(line) as { port: number }).port));
      };
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.child.kill('SIGKILL');
        reject(new Error(`the sidecar failed to start: ${why}\n${this.tail()}`));
      };
      this.child.stdout!.on('data', check);
      void this.closed.then((code) => fail(`it exited with code ${code}`));
    });
  }
}
