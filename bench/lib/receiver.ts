/** Receivers for the bench: answer 200 at once (counting, and timing events that carry sent_at), or never answer. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export class BenchReceiver {
  received = 0;
  readonly byPath = new Map<string, number>();
  /** ms from the event's sent_at to its receipt, for events that carry it (on paths `timed` accepts). */
  readonly latencies: number[] = [];
  timed: (path: string) => boolean = () => true;
  private readonly server: http.Server;

  private constructor(private readonly mode: 'ok' | 'hang') {
    this.server = http.createServer((req, res) => {
      if (this.mode === 'hang') return; // held until the sender's timeout cuts it
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received += 1;
        this.byPath.set(req.url ?? '', (this.byPath.get(req.url ?? '') ?? 0) + 1);
        const body = Buffer.concat(chunks).toString('utf8');
        const sentAt = /"sent_at":(\d+)/.exec(body);
        if (sentAt && this.timed(req.url ?? '')) this.latencies.push(Date.now() - Number(sentAt[1]));
        res.writeHead(200).end();
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  static async start(mode: 'ok' | 'hang' = 'ok'): Promise<BenchReceiver> {
    const receiver = new BenchReceiver(mode);
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  url(path = '/hooks'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
