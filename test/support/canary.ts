/**
 * Canaries for SSRF tests: plain TCP listeners on addresses the sidecar must never reach. Each
 * counts every connection it accepts (and cuts it), so a test can assert "zero" and mean it.
 * Linux routes all of 127.0.0.0/8 to the loopback interface, so listeners on 127.0.0.1 and
 * 127.0.0.3 can sit beside the allowed receiver on 127.0.0.2, on the same port.
 */
import net from 'node:net';
import { TestReceiver } from './receiver';

export class Canary {
  connections = 0;

  private constructor(
    readonly host: string,
    private readonly server: net.Server,
  ) {
    server.on('connection', (socket) => {
      this.connections += 1;
      socket.destroy();
    });
  }

  static listen(host: string, port: number): Promise<Canary> {
    const server = net.createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, ipv6Only: host.includes(':') }, () => resolve(new Canary(host, server)));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The loopback addresses that tests leave out of WEBHOOKS_ALLOWED_CIDRS (127.0.0.2/32). */
export const CANARY_HOSTS = ['127.0.0.1', '127.0.0.3', '::1'];
export const ALLOWED_CIDRS = '127.0.0.2/32';

export interface Trap {
  /** The legitimate receiver, on 127.0.0.2 (the one allowed address). */
  readonly receiver: TestReceiver;
  /** The receiver's port; every canary listens on it too. */
  readonly port: number;
  readonly canaries: readonly Canary[];
  /** Connections the canaries accepted, by host. */
  hits(): Record<string, number>;
  close(): Promise<void>;
}

/** A receiver on 127.0.0.2 and canaries on the same port of every other loopback address. */
export async function setTrap(): Promise<Trap> {
  for (let tries = 0; ; tries += 1) {
    const receiver = await TestReceiver.start('127.0.0.2');
    const port = Number(new URL(receiver.url).port);
    const canaries: Canary[] = [];
    try {
      for (const host of CANARY_HOSTS) canaries.push(await Canary.listen(host, port));
    } catch (err) {
      // Another process holds that port on one of the canary addresses: try another port.
      await Promise.all([receiver.close(), ...canaries.map((c) => c.close())]);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && tries < 5) continue;
      throw err;
    }
    return {
      receiver,
      port,
      canaries,
      hits: () => Object.fromEntries(canaries.map((c) => [c.host, c.connections])),
      close: async () => void (await Promise.all([receiver.close(), ...canaries.map((c) => c.close())])),
    };
  }
}

/** Zero connections on every canary, in the shape hits() gives. */
export const NO_HITS = Object.fromEntries(CANARY_HOSTS.map((h) => [h, 0]));
