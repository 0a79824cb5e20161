/** `npm start`: reads the configuration once, starts the sidecar, stops it on SIGTERM/SIGINT. */
// First of all: the tracing SDK must patch gRPC, knex and undici before they are loaded.
import { shutdownTracing, tracingEnabled } from './telemetry/tracing';
import { ConfigError, loadConfigFromProcess, type LoadedConfig } from './config';
import { startApp } from './app';
import { limitHeapGrowth } from './heap';

limitHeapGrowth();

async function main(): Promise<void> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFromProcess();
  } catch (err) {
    exitOnConfigError(err);
  }
  if (loaded.generated) printGenerated(loaded.generated);
  // startApp finds some configuration problems only once it sees the database (a missing key).
  const app = await startApp(loaded.config).catch(exitOnConfigError);
  if (tracingEnabled) app.logger.info('OpenTelemetry tracing on (configured by the OTEL_* variables)');
  const shutdown = (signal: string): void => {
    app.logger.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => shutdownTracing()) // exports the spans still buffered
      .then(
        () => process.exit(0),
        (err: Error) => {
          app.logger.error({ error: err.message }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** A ConfigError names the variable to fix: status 2, as for any invalid configuration. */
function exitOnConfigError(err: unknown): never {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`Invalid configuration: ${err.message}\n`);
  process.exit(2);
}

/**
 * Embedded mode's first start: the generated tokens are shown once, on stderr and not through
 * the logger, so that they never end up in collected logs.
 */
function printGenerated(generated: NonNullable<LoadedConfig['generated']>): void {
  const { ingest, admin, platform } = generated.tokens;
  const lines = [
    '',
    'Embedded mode: generated credentials (kept in ' + generated.file + '):',
    ...(ingest === undefined ? [] : [`  WEBHOOKS_INGEST_TOKEN=${ingest}`]),
    ...(admin === undefined ? [] : [`  WEBHOOKS_ADMIN_TOKEN=${admin}`]),
    ...(platform === undefined ? [] : [`  WEBHOOKS_PLATFORM_TOKEN=${platform}`]),
    '',
  ];
  process.stderr.write(lines.join('\n') + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`webhooks sidecar failed to start: ${err.message}\n`);
  process.exit(1);
});
