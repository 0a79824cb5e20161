/** Real @grpc/grpc-js clients of the sidecar, with promise-returning calls. */
import * as grpc from '@grpc/grpc-js';
import { EventIngestClient } from '../../src/grpc/generated/webhooks/v1/ingest';
import { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';
import type { Promised } from '../../src/cli/connection';

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type AnyUnary = (req: unknown, metadata: grpc.Metadata, callback: Callback<unknown>) => grpc.ClientUnaryCall;

/** The CLI's typing of a generated client's unary methods as promise-returning functions. */
export type { Promised };

export function metadataOf(token: string | undefined, tenantId?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  if (tenantId !== undefined) md.set('x-tenant-id', tenantId);
  return md;
}

export function promised<C extends grpc.Client>(client: C, metadata: grpc.Metadata): Promised<C> {
  return new Proxy({} as Promised<C>, {
    get(_target, name: string) {
      const method = (client as unknown as Record<string, AnyUnary>)[name];
      if (typeof method !== 'function') return undefined;
      return (req: unknown) =>
        new Promise((resolve, reject) => {
          method.call(client, req, metadata, (err, res) => (err ? reject(err) : resolve(res)));
        });
    },
  });
}

export function ingestClient(port: number): EventIngestClient {
  return new EventIngestClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function managementClient(port: number): WebhookManagementClient {
  return new WebhookManagementClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** Runs a call that must fail, and returns its error. */
export async function rejectionOf(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
