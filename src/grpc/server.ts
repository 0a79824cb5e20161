/**
 * The gRPC server: EventIngest and WebhookManagement, plus grpc.health.v1.Health (Kubernetes
 * gRPC probes) and server reflection (grpcurl). Health and reflection need no token.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { EventIngestService, type EventIngestServer } from './generated/webhooks/v1/ingest';
import { lenientStreams } from './undecodable';
import { WebhookManagementService, type WebhookManagementServer } from './generated/webhooks/v1/management';

/** This file is dist/src/grpc/server.js; the .proto files stay at the package root. */
export const PROTO_DIR = path.join(__dirname, '..', '..', '..', 'proto');
export const SERVICE_NAMES = ['webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement'] as const;

/** Incoming messages larger than this are refused by grpc-js with RESOURCE_EXHAUSTED. */
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
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<GrpcServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES });
  server.addService(lenientStreams(EventIngestService), ingest);
  server.addService(WebhookManagementService, management);
  const health = new HealthImplementation({
    '': 'SERVING',
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'SERVING' as const])),
  });
  health.addToServer(server);
  new ReflectionService(loadProtoDefinitions()).addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, credentials, (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return { server, health, port };
}

function loadProtoDefinitions(): protoLoader.PackageDefinition {
  // The health proto too, so that `grpcurl list` shows every service the server has.
  return protoLoader.loadSync(
    ['webhooks/v1/event.proto', 'webhooks/v1/ingest.proto', 'webhooks/v1/management.proto', HEALTH_PROTO],
    { includeDirs: [PROTO_DIR], keepCase: true, defaults: true },
  );
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
