/**
 * The demo's receiver: what a tenant would run. It verifies every request with the official
 * `standardwebhooks` library (signature and timestamp), prints what it got, and can refuse the
 * first attempt of one event type with 503 to show a retry arriving under the same webhook-id.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Verified {
  readonly webhookId: string;
  readonly eventId: string;
  readonly type: string;
}

export class VerifyingReceiver {
  /** Set once CreateWebhook has returned it. */
  secret = '';
  readonly verified: Verified[] = [];
  rejected = 0;
  private readonly refusedOnce = new Set<string>();

  private constructor(
    private readonly server: http.Server,
    private readonly print: (line: string) => void,
    private readonly refuseFirstOf: string | undefined,
  ) {
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
  }

  static async start(print: (line: string) => void, refuseFirstOf?: string): Promise<VerifyingReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new VerifyingReceiver(server, print, refuseFirstOf);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let event: { id: string; type: string; data: unknown };
      try {
        // Verify the raw body as received: re-serialised JSON would not match the signature.
        event = new Webhook(this.secret).verify(body, headers) as typeof event;
      } catch (err) {
        this.rejected += 1;
        this.print(`✘ signature check failed for ${headers['webhook-id']}: ${(err as Error).message}`);
        return answer(res, 400);
      }
      const id = headers['webhook-id'];
      if (event.type === this.refuseFirstOf && !this.refusedOnce.has(id)) {
        this.refusedOnce.add(id);
        this.print(`↻ ${event.type.padEnd(26)} ${id}  verified, answered 503 on purpose: the sidecar will retry`);
        return answer(res, 503);
      }
      const retried = this.refusedOnce.has(id) ? '  (the retry, same webhook-id)' : '';
      this.verified.push({ webhookId: id, eventId: event.id, type: event.type });
      this.print(`✔ ${event.type.padEnd(26)} ${id}  signature verified  data=${JSON.stringify(event.data)}${retried}`);
      answer(res, 204);
    });
  }
}

function answer(res: http.ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}
