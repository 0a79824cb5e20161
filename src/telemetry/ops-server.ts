/**
 * The operations HTTP listener (WEBHOOKS_METRICS_ADDR, port 9464 by default): GET /metrics for
 * Prometheus, GET /healthz (the process is alive) and GET /readyz (ready to take calls) for
 * Kubernetes probes. It starts before the migrations, so a long migration is alive but not
 * ready, and closes last, so probes keep an answer while calls drain on shutdown.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from './health';
import type { MetricsRegistry } from './metrics';

export interface OpsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(addr: string, metrics: MetricsRegistry, readiness: Readiness): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, { error: 'method not allowed' });
    if (path === '/metrics') return metrics.serve(req, res);
    if (path === '/healthz') return answer(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const state = readiness.state;
      return answer(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'not ready', ...state });
    }
    answer(res, 404, { error: 'not found' });
  });
  const { host, port } = splitAddr(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // scrapers keep connections alive
      }),
  };
}

function answer(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}

/** "host:port" or "[v6]:port", as validated by the config. */
function splitAddr(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  return { host: addr.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(addr.slice(colon + 1)) };
}
