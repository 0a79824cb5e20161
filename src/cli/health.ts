/**
 * `webhooks-sidecar health`: the gRPC health check (grpc.health.v1), or with --http the
 * /healthz of the metrics listener (--ready: /readyz). Exit 0 when healthy, 1 otherwise: the
 * Dockerfile's HEALTHCHECK runs it inside the container, so by default it aims at the ports the
 * server there was configured with (WEBHOOKS_GRPC_ADDR, WEBHOOKS_METRICS_ADDR) on loopback.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { flag, noPositionals, str } from './args';
import type { Command, Context, Group } from './command';

const HealthClient = grpc.makeGenericClientConstructor(healthService, 'Health');

const health: Command = {
  name: 'health',
  usage: '[--service NAME] | --http [--ready] [--url URL]',
  summary: 'check that a sidecar answers (gRPC health, or HTTP /healthz and /readyz)',
  options: { service: { type: 'string' }, http: { type: 'boolean' }, ready: { type: 'boolean' }, url: { type: 'string' } },
  async run(ctx) {
    noPositionals(ctx.args);
    const http = flag(ctx.args, 'http') || flag(ctx.args, 'ready') || str(ctx.args, 'url') !== undefined;
    const result = http ? await httpCheck(ctx) : await grpcCheck(ctx);
    if (ctx.out.json) ctx.out.value(result);
    else ctx.out.line(`${result.target}: ${result.status}`);
    return result.healthy ? 0 : 1;
  },
};

interface HealthResult {
  target: string;
  status: string;
  healthy: boolean;
}

async function grpcCheck(ctx: Context): Promise<HealthResult> {
  // The connection flags decide the transport; only the default address differs.
  const addr = str(ctx.args, 'addr') ?? nonEmpty(ctx.io.env.WEBHOOKS_ADDR) ?? loopbackOf(ctx.io.env.WEBHOOKS_GRPC_ADDR, 50051);
  const conn = ctx.connection();
  const client = conn.track(new HealthClient(addr, conn.settings.credentials, conn.settings.channelOptions));
  const deadline = new Date(Date.now() + conn.settings.timeoutMs);
  const service = str(ctx.args, 'service') ?? '';
  const status = await new Promise<string>((resolve, reject) => {
    client.check({ service }, { deadline }, (err: grpc.ServiceError | null, res: { status: string }) =>
      err ? reject(err) : resolve(res.status),
    );
  });
  return { target: `grpc://${addr}${service === '' ? '' : `/${service}`}`, status, healthy: status === 'SERVING' };
}

async function httpCheck(ctx: Context): Promise<HealthResult> {
  const path = flag(ctx.args, 'ready') ? '/readyz' : '/healthz';
  const url = str(ctx.args, 'url') ?? `http://${loopbackOf(ctx.io.env.WEBHOOKS_METRICS_ADDR, 9464)}${path}`;
  const timeoutMs = ctx.connection().settings.timeoutMs;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.text()).trim();
  return { target: url, status: `${res.status} ${body}`, healthy: res.ok };
}

/** The listen address with a wildcard host replaced by loopback: where a local client connects. */
export function loopbackOf(listen: string | undefined, defaultPort: number): string {
  const value = nonEmpty(listen);
  if (value === undefined) return `127.0.0.1:${defaultPort}`;
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  if (host === '0.0.0.0' || host === '') return `127.0.0.1:${port}`;
  if (host === '[::]' || host === '::') return `[::1]:${port}`;
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export const healthGroup: Group = { name: 'health', summary: health.summary, commands: [health] };
