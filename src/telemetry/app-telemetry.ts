/**
 * The app's observability parts in one place for src/app.ts: metrics, readiness with its
 * database probe, the queue gauges, the ops HTTP server, and the ingest and delivery telemetry
 * handed to the parts they watch. (Tracing is process-wide: src/telemetry/tracing.ts.)
 */
import type { Knex } from 'knex';
import { DeliveryTelemetry } from './delivery-telemetry';
import { databaseProbe, Readiness } from './health';
import { IngestTelemetry } from './ingest-telemetry';
import type { Logger } from './logger';
import { MetricsRegistry } from './metrics';
import { startOpsServer, type OpsServer } from './ops-server';
import type { Periodic } from './periodic';
import { queueGauges } from './queue-gauges';

export interface TelemetryOptions {
  /** WEBHOOKS_METRICS_ADDR */
  readonly metricsAddr: string;
  /** How often the queue gauges are refreshed from the database. */
  readonly queueMetricsIntervalMs: number;
  /** WEBHOOKS_METRICS_WEBHOOK_SERIES */
  readonly webhookSeries: number;
  readonly logger: Logger;
}

type ServingStatus = 'SERVING' | 'NOT_SERVING';

export class AppTelemetry {
  readonly readiness = new Readiness();
  readonly ingest: IngestTelemetry;
  readonly delivery: DeliveryTelemetry;
  private readonly tasks: Periodic[] = [];

  private constructor(
    private readonly options: TelemetryOptions,
    private readonly metrics: MetricsRegistry,
    private server: OpsServer | undefined,
  ) {
    this.ingest = new IngestTelemetry(metrics.instruments);
    this.delivery = new DeliveryTelemetry(metrics.instruments);
  }

  /** Starts the ops server: alive at once, ready only after markStarted(). */
  static async start(options: TelemetryOptions): Promise<AppTelemetry> {
    const metrics = new MetricsRegistry({ webhookSeries: options.webhookSeries });
    const telemetry = new AppTelemetry(options, metrics, undefined);
    telemetry.server = await startOpsServer(options.metricsAddr, metrics, telemetry.readiness);
    return telemetry;
  }

  /** The bound port of the ops server. */
  get metricsPort(): number {
    return this.server?.port ?? 0;
  }

  /** Starts the database probe and the queue gauges. */
  watchDatabase(db: Knex): void {
    const { logger, queueMetricsIntervalMs } = this.options;
    this.tasks.push(databaseProbe(db, this.readiness, logger), queueGauges(this.metrics.meter, db, queueMetricsIntervalMs, logger));
    for (const task of this.tasks) task.start();
  }

  /** Keeps the gRPC health service's statuses in step with readiness. */
  followHealth(health: { setStatus(service: string, status: ServingStatus): void }, services: readonly string[]): void {
    this.readiness.onChange((ready) => {
      for (const service of ['', ...services]) health.setStatus(service, ready ? 'SERVING' : 'NOT_SERVING');
    });
  }

  /** Last on shutdown: probes have an answer until the very end. */
  async stop(): Promise<void> {
    this.readiness.markStopping();
    await Promise.all(this.tasks.map((task) => task.stop()));
    await this.server?.close();
    await this.metrics.shutdown();
  }
}
