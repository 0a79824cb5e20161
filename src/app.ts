/**
 * Puts the sidecar together from a Config: database and migrations, the services, the delivery
 * worker and the gRPC server. Tests start it in-process on port 0; main() adds signals.
 */
import type { Config } from './config';
import { connect, type Db } from './db/connect';
import { clockFor, type Clock } from './db/db-clock';
import { migrateLatest, storesBodiesApart } from './db/migrate';
import { HttpSender } from './delivery/http-sender';
import { DeliveryWorker } from './delivery/worker';
import type { Resolver } from './delivery/guarded-lookup';
import { Authenticator } from './grpc/auth';
import { serverCredentials } from './grpc/credentials';
import { startGrpcServer, stopGrpcServer, SERVICE_NAMES, type GrpcServer } from './grpc/server';
import { EventCatalog } from './ingest/catalog/catalog';
import { GroupCommitter } from './ingest/group-commit';
import { Ingestor } from './ingest/ingestor';
import { ingestService, OpenStreams } from './ingest/service';
import { DeliveryHistory } from './management/delivery-history';
import { Redelivery } from './management/redelivery';
import { managementService } from './management/service';
import { WebhookStore } from './management/webhook-store';
import { WebhookManager } from './management/webhooks';
import { AttemptRecorder } from './outbox/recorder';
import { RetentionTask } from './outbox/retention';
import { checkSealingKeys } from './security/key-check';
import { SecretBox } from './security/secret-box';
import { AppTelemetry } from './telemetry/app-telemetry';
import { describeError } from './telemetry/describe-error';
import { createLogger, type Logger } from './telemetry/logger';

const DAY_MS = 24 * 3600 * 1000;
/** Events per group-commit transaction at most: big enough to amortise a log flush, small enough to keep one commit short. */
const GROUP_COMMIT_MAX_EVENTS = 1_000;
/** Group-commit transactions under way at once on MySQL (the pool has 10 connections). */
const GROUP_COMMITS_IN_FLIGHT = 4;
/** History is purged hourly; each run deletes in small batches. */
const RETENTION_INTERVAL_MS = 3600 * 1000;

export interface App {
  readonly port: number;
  readonly db: Db;
  readonly logger: Logger;
  /** The bound port of /metrics, /healthz and /readyz. */
  readonly metricsPort: number;
  /** StreamEvents calls open now: a stream that ended, however, is no longer counted. */
  openStreams(): number;
  stop(): Promise<void>;
}

/** Parts tests replace; production passes none. Not configuration: nothing an operator sets. */
export interface AppOverrides {
  /** How the delivery guard resolves names (tests answer with chosen addresses). */
  readonly resolver?: Resolver;
}

export async function startApp(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
  overrides: AppOverrides = {},
): Promise<App> {
  // First, so that probes see the process alive (not ready) during a long migration.
  const telemetry = await AppTelemetry.start({
    metricsAddr: config.metricsAddr,
    queueMetricsIntervalMs: config.queueMetricsIntervalMs,
    webhookSeries: config.metricsWebhookSeries,
    logger,
  });
  const db = connect(config.db, { logger });
  let bodiesApart: boolean;
  // Every time written to or compared with the database comes from here (src/db/db-clock.ts).
  let clock: Clock & { stop(): void };
  try {
    const { applied, newer } = await migrateLatest(db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    if (newer.length > 0) {
      logger.warn({ newer }, 'the database was migrated by a newer version of the sidecar; this version runs on that schema');
    }
    bodiesApart = await storesBodiesApart(db, config.eventBodies);
    // Before serving: a missing key would otherwise show only as every attempt failing.
    await checkSealingKeys(db, config.encryptionKeys);
    clock = await clockFor(db, logger);
  } catch (err) {
    await Promise.all([db.destroy(), telemetry.stop()]);
    throw err;
  }
  telemetry.watchDatabase(db);
  const catalog = new EventCatalog();
  const secrets = new SecretBox(config.encryptionKeys);
  const sender = new HttpSender({
    requestTimeoutMs: config.requestTimeoutMs,
    allowedCidrs: config.allowedCidrs,
    resolver: overrides.resolver,
  });
  const worker = new DeliveryWorker(
    { db, sender, secrets, logger, clock, telemetry: telemetry.delivery, recorder: new AttemptRecorder(db, config) },
    {
      concurrency: config.deliveryConcurrency,
      maxInFlightPerWebhook: config.maxInFlightPerWebhook,
      maxInFlightPerTenant: config.maxInFlightPerTenant,
      pollIntervalMs: config.pollIntervalMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxRetries: config.maxRetries,
      retryBaseMs: config.retryBaseMs,
      disableAfterFailures: config.disableAfterFailures,
      disableAfterMs: config.disableAfterMs,
    },
  );
  const wakeWorker = (): void => worker.wake();
  const streams = new OpenStreams();
  const handlerDeps = { auth: new Authenticator(config.tokens), logger };
  const ingestor = new Ingestor({
    committer: new GroupCommitter(
      db,
      GROUP_COMMIT_MAX_EVENTS,
      config.db.kind === 'mysql' ? GROUP_COMMITS_IN_FLIGHT : 1,
      () => clock.now(), // a new delivery's first due time and its handoff's lease end
      (now) => worker.openHandoff(now),
      bodiesApart,
    ),
    rules: { catalog, maxEventBytes: config.maxEventBytes },
    onCommitted: wakeWorker,
    telemetry: telemetry.ingest,
    logger,
  });
  const webhooks = new WebhookManager(
    new WebhookStore(db),
    secrets,
    { catalog, allowedCidrs: config.allowedCidrs },
    {
      secretOverlapMs: config.secretOverlapMs,
      clock: () => clock.now(), // pausing and resuming compare lease ends
      onDeliveriesDue: wakeWorker,
      onWebhookChanged: (webhookId) => worker.webhookChanged(webhookId),
    },
  );
  const history = new DeliveryHistory(db);
  const redelivery = new Redelivery(db, webhooks, history, wakeWorker, config.maxEventBytes, bodiesApart, clock);
  let grpcServer: GrpcServer;
  try {
    grpcServer = await startGrpcServer(
      config.grpcAddr,
      ingestService(handlerDeps, ingestor, streams),
      managementService(handlerDeps, { db, clock, webhooks, redelivery, history, catalog }),
      { auth: handlerDeps.auth, maxEventBytes: config.maxEventBytes },
      serverCredentials(config.tls),
    );
  } catch (err) {
    clock.stop();
    await Promise.all([sender.close(), telemetry.stop().then(() => db.destroy())]);
    throw err;
  }
  worker.start();
  const retention = new RetentionTask(db, config.retentionDays * DAY_MS, RETENTION_INTERVAL_MS, (err) =>
    logger.warn({ error: describeError(err) }, 'retention purge failed; it runs again later'),
  );
  retention.start();
  telemetry.followHealth(grpcServer.health, SERVICE_NAMES);
  telemetry.readiness.markStarted();
  logger.info(
    {
      addr: config.grpcAddr,
      port: grpcServer.port,
      db: config.db.kind,
      metricsPort: telemetry.metricsPort,
      eventBodies: bodiesApart ? 'separate' : 'events',
    },
    'webhooks sidecar started',
  );

  let stopping: Promise<void> | undefined;
  return {
    port: grpcServer.port,
    db,
    logger,
    metricsPort: telemetry.metricsPort,
    openStreams: () => streams.size,
    stop: () =>
      (stopping ??= (async () => {
        telemetry.readiness.markStopping(); // gRPC health NOT_SERVING, /readyz 503
        // One grace period for everything: calls drain and attempts finish side by side, and
        // the worker stops claiming at once.
        streams.closeAll();
        await Promise.all([
          stopGrpcServer(grpcServer.server, config.shutdownGraceMs),
          worker.stop(config.shutdownGraceMs),
          retention.stop(),
        ]);
        // Ingest calls that committed after the worker stopped gave their deliveries back.
        await worker.settled();
        await sender.close();
        await telemetry.stop();
        clock.stop();
        await db.destroy();
        logger.info('webhooks sidecar stopped');
      })()),
  };
}
