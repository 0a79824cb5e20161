/**
 * The gRPC server: EventIngest and WebhookManagement, plus grpc.health.v1.Health (Kubernetes
 * gRPC probes) and server reflection (grpcurl). Health and reflection need no token.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { EventIngestService, type EventIngestServer } from './generated/webhooks/v1/ingest';
import type { Authenticator } from './auth';
import { limitRequestBytes, maxSendTestEventBytes, MAX_MANAGEMENT_MESSAGE_BYTES } from './message-limits';
import { keepProtoKeysInStructs } from '../ingest/proto-keys';
import { markDeepData } from './data-depth';
import { addReflection } from './reflection';
import { decodeHugeTimestampsAsInvalid } from './timestamps';
import { tokenInterceptor } from './token-interceptor';
import { lenientStreams } from './undecodable';
import { WebhookManagementService, type WebhookManagementServer } from './generated/webhooks/v1/management';

export const SERVICE_NAMES = ['webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement'] as const;

/**
 * Incoming messages larger than this are refused by grpc-js with RESOURCE_EXHAUSTED. Management
 * requests have a much smaller limit (src/grpc/message-limits.ts).
 */
export const MAX_RECEIVE_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface GrpcServer {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  /** The bound port (useful with port 0). */
  readonly port: number;
}

export async function startGrpcServer(
  addr: string,
  ingest: EventIngestServer,
  management: WebhookManagementServer,
  guards: { auth: Authenticator; maxEventBytes: number },
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<GrpcServer> {
  decodeHugeTimestampsAsInvalid();
  // Both replace the generated Struct decoders before any request is decoded; the depth guard
  // wraps the decoder that keeps "__proto__" keys, so it must come second.
  keepProtoKeysInStructs();
  markDeepData();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    interceptors: [tokenInterceptor(guards.auth)],
  });
  server.addService(lenientStreams(EventIngestService), ingest);
  const sendTestEventBytes = maxSendTestEventBytes(guards.maxEventBytes);
  server.addService(
    limitRequestBytes(WebhookManagementService, (method) =>
      method === 'sendTestEvent' ? sendTestEventBytes : MAX_MANAGEMENT_MESSAGE_BYTES,
    ),
    management,
  );
  const health = new HealthImplementation({
    '': 'SERVING',
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'SERVING' as const])),
  });
  health.addToServer(server);
  addReflection(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, credentials, (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return { server, health, port };
}

/** Stops taking calls, lets running ones finish for up to `graceMs`, then cuts them. */
export function stopGrpcServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
