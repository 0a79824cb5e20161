/** Starts the real sidecar in this process on port 0, with clients for each role. */
import { randomBytes } from 'node:crypto';
import { startApp, type App, type AppOverrides } from '../../src/app';
import { parseConfig, type Config, type Env } from '../../src/config/config';
import { fillSecrets } from '../../src/config/embedded';
import { createLogger, type Logger } from '../../src/telemetry/logger';
import { ingestClient, managementClient, metadataOf, promised, type Promised } from './grpc-clients';
import type { EventIngestClient } from '../../src/grpc/generated/webhooks/v1/ingest';
import type { WebhookManagementClient } from '../../src/grpc/generated/webhooks/v1/management';

export interface TestSidecar {
  readonly app: App;
  readonly config: Config;
  readonly port: number;
  readonly ingest: Promised<EventIngestClient>;
  /** Management calls acting for a tenant. */
  admin(tenantId: string): Promised<WebhookManagementClient>;
  /** Management calls with the platform token (no x-tenant-id). */
  platform(): Promised<WebhookManagementClient>;
  readonly ingestClient: EventIngestClient;
  readonly managementClient: WebhookManagementClient;
  stop(): Promise<void>;
}

export function testEnv(dbUrl: string, overrides: Env = {}): Env {
  return {
    WEBHOOKS_DB_URL: dbUrl,
    WEBHOOKS_GRPC_ADDR: '127.0.0.1:0',
    // Port 0: sidecars of one run (and of engineers running tests side by side) never collide.
    WEBHOOKS_METRICS_ADDR: '127.0.0.1:0',
    WEBHOOKS_INGEST_TOKEN: `ingest-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
    WEBHOOKS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // Receivers listen on loopback; everything else private stays refused.
    WEBHOOKS_ALLOWED_CIDRS: '127.0.0.1/32',
    WEBHOOKS_RETRY_BASE_MS: '100',
    WEBHOOKS_POLL_INTERVAL_MS: '50',
    WEBHOOKS_REQUEST_TIMEOUT_MS: '2000',
    WEBHOOKS_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  };
}

/** What a test may put in place of the real parts: a logger it reads back, a resolver. */
export interface SidecarParts extends AppOverrides {
  readonly logger?: Logger;
}

export async function startSidecar(dbUrl: string, overrides: Env = {}, parts: SidecarParts = {}): Promise<TestSidecar> {
  const config = parseConfig(testEnv(dbUrl, overrides), fillSecrets);
  const { logger = createLogger(config.logLevel), ...appOverrides } = parts;
  const app = await startApp(config, logger, appOverrides);
  const ingest = ingestClient(app.port);
  const management = managementClient(app.port);
  return {
    app,
    config,
    port: app.port,
    ingest: promised(ingest, metadataOf(config.tokens.ingest)),
    admin: (tenantId) => promised(management, metadataOf(config.tokens.admin, tenantId)),
    platform: () => promised(management, metadataOf(config.tokens.platform)),
    ingestClient: ingest,
    managementClient: management,
    stop: async () => {
      ingest.close();
      management.close();
      await app.stop();
    },
  };
}
