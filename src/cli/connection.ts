/**
 * gRPC clients for the CLI: address, transport and bearer token from flags or the environment,
 * one deadline per call, and promise-returning methods.
 */
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Env } from '../config/env-reader';
import { EventIngestClient } from '../grpc/generated/webhooks/v1/ingest';
import { WebhookManagementClient } from '../grpc/generated/webhooks/v1/management';
import { flag, parseDuration, str, UsageError, type ParsedArgs } from './args';

export const DEFAULT_ADDR = 'localhost:50051';
const DEFAULT_TIMEOUT_MS = 10_000;

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: Callback<Res>,
) => grpc.ClientUnaryCall;

/** A generated client's unary methods as functions returning promises. */
export type Promised<C> = {
  [K in keyof C as C[K] extends UnaryMethod<infer _Req, infer _Res> ? K : never]: C[K] extends UnaryMethod<infer Req, infer Res>
    ? (req: Req) => Promise<Res>
    : never;
};

export interface ConnectionSettings {
  readonly addr: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  readonly timeoutMs: number;
}

export function connectionSettings(args: ParsedArgs, env: Env): ConnectionSettings {
  const addr = str(args, 'addr') ?? nonEmpty(env.WEBHOOKS_ADDR) ?? DEFAULT_ADDR;
  const timeout = str(args, 'timeout');
  const serverName = str(args, 'server-name');
  return {
    addr,
    credentials: credentialsOf(args),
    channelOptions: serverName === undefined ? {} : { 'grpc.ssl_target_name_override': serverName },
    timeoutMs: timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeout, 'timeout'),
  };
}

function credentialsOf(args: ParsedArgs): grpc.ChannelCredentials {
  const [ca, cert, key] = (['ca', 'cert', 'key'] as const).map((name) => readFile(args, name));
  if (!flag(args, 'tls') && ca === undefined && cert === undefined) return grpc.credentials.createInsecure();
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  return grpc.credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
}

function readFile(args: ParsedArgs, name: string): Buffer | undefined {
  const file = str(args, name);
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Admin calls carry the admin token and a tenant; platform calls the platform token and none. */
export function managementMetadata(args: ParsedArgs, env: Env): grpc.Metadata {
  if (flag(args, 'platform')) {
    if (str(args, 'tenant') !== undefined) throw new UsageError('--platform acts for no tenant; drop --tenant');
    return metadata(token(args, env.WEBHOOKS_PLATFORM_TOKEN, 'WEBHOOKS_PLATFORM_TOKEN'), undefined);
  }
  const tenant = str(args, 'tenant') ?? nonEmpty(env.WEBHOOKS_TENANT);
  if (tenant === undefined) throw new UsageError('--tenant (or WEBHOOKS_TENANT) is required, or --platform');
  return metadata(token(args, env.WEBHOOKS_ADMIN_TOKEN, 'WEBHOOKS_ADMIN_TOKEN'), tenant);
}

export function ingestMetadata(args: ParsedArgs, env: Env): grpc.Metadata {
  return metadata(token(args, env.WEBHOOKS_INGEST_TOKEN, 'WEBHOOKS_INGEST_TOKEN'), undefined);
}

function token(args: ParsedArgs, fromEnv: string | undefined, variable: string): string {
  const value = str(args, 'token') ?? nonEmpty(fromEnv);
  if (value === undefined) throw new UsageError(`--token (or ${variable}) is required`);
  return value;
}

function metadata(bearer: string, tenant: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${bearer}`);
  if (tenant !== undefined) md.set('x-tenant-id', tenant);
  return md;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Clients made on first use and closed by close(). */
export class Connection {
  private readonly clients: grpc.Client[] = [];

  constructor(readonly settings: ConnectionSettings) {}

  management(md: grpc.Metadata): Promised<WebhookManagementClient> {
    return this.promised(new WebhookManagementClient(this.settings.addr, this.settings.credentials, this.settings.channelOptions), md);
  }

  ingest(md: grpc.Metadata): Promised<EventIngestClient> {
    return this.promised(new EventIngestClient(this.settings.addr, this.settings.credentials, this.settings.channelOptions), md);
  }

  /** For clients made elsewhere (the health client): closed with the others. */
  track<C extends grpc.Client>(client: C): C {
    this.clients.push(client);
    return client;
  }

  close(): void {
    for (const client of this.clients.splice(0)) client.close();
  }

  private promised<C extends grpc.Client>(client: C, md: grpc.Metadata): Promised<C> {
    this.track(client);
    const timeoutMs = this.settings.timeoutMs;
    return new Proxy({} as Promised<C>, {
      get(_target, name: string) {
        const method = (client as unknown as Record<string, unknown>)[name];
        if (typeof method !== 'function') return undefined;
        return (req: unknown) =>
          new Promise((resolve, reject) => {
            const options = { deadline: new Date(Date.now() + timeoutMs) };
            (method as UnaryMethod<unknown, unknown>).call(client, req, md, options, (err, res) => (err ? reject(err) : resolve(res)));
          });
      },
    });
  }
}
