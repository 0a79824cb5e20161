/** A real HTTP receiver on 127.0.0.1, port 0, recording every request it gets. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from './wait';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

export type Responder = (req: ReceivedRequest, index: number) => { status: number; body?: string; headers?: Record<string, string> };

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  private server: http.Server | undefined;
  private responder: Responder = () => ({ status: 200, body: 'ok' });
  /** Each answer is sent this long after its request has arrived. */
  answerDelayMs = 0;

  static async start(host = '127.0.0.1'): Promise<TestReceiver> {
    const receiver = new TestReceiver();
    await receiver.listen(host);
    return receiver;
  }

  /** How to answer from now on. */
  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  get url(): string {
    const { address, port } = this.server!.address() as AddressInfo;
    return `http://${address}:${port}/hooks`;
  }

  async waitForRequests(count: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    await waitUntil(() => this.requests.length >= count, `${count} request(s) at ${this.url}`, timeoutMs);
    return this.requests;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private listen(host: string): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const received: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        const index = this.requests.push(received) - 1;
        const answer = this.responder(received, index);
        const send = (): void => {
          res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
          res.end(answer.body ?? '');
        };
        if (this.answerDelayMs > 0) setTimeout(send, this.answerDelayMs);
        else send();
      });
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
  }
}
