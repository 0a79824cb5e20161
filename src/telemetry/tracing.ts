/**
 * The OpenTelemetry tracing SDK. main.ts imports this file before anything else: the
 * instrumentations patch @grpc/grpc-js, knex and undici as they are loaded, so they must be
 * registered first. Configuration is the SDK's own OTEL_* variables (see src/config/otel.ts for
 * when it starts at all); tests that start the app in-process never import this file.
 *
 * Spans come from the instrumentations (gRPC server calls, knex queries, undici requests) and from
 * the sidecar's own webhook.ingest and webhook.deliver spans (src/telemetry/*-telemetry.ts).
 * Metrics and logs are not the SDK's business here: metrics have their own provider with a
 * Prometheus endpoint (src/telemetry/metrics.ts), and logs are pino lines carrying trace ids.
 */
import type { Span } from '@opentelemetry/api';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { KnexInstrumentation } from '@opentelemetry/instrumentation-knex';
import { UndiciInstrumentation, type UndiciRequest } from '@opentelemetry/instrumentation-undici';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { tracingRequestedByProcess } from '../config/otel';
import { SERVICE_NAME } from './service';

/** Health checks and reflection are polled by probes and tools: spans of them are noise. */
const UNTRACED_GRPC_METHODS = ['Check', 'Watch', 'ServerReflectionInfo'];
/** knex spans show the SQL with its placeholders (never the bound values), cut to this length. */
const MAX_QUERY_LENGTH = 2_000;

const sdk = tracingRequestedByProcess() ? startTracing() : undefined;

export const tracingEnabled = sdk !== undefined;

/** A collector that does not answer must not hold up the exit for the exporter's full timeout. */
const FLUSH_DEADLINE_MS = 3_000;

/** Exports the spans still buffered; main() calls it last on shutdown. */
export async function shutdownTracing(): Promise<void> {
  if (!sdk) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_DEADLINE_MS)));
  await Promise.race([sdk.shutdown().catch(() => undefined), deadline]);
  clearTimeout(timer);
}

function startTracing(): NodeSDK {
  const tracing = new NodeSDK({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, detected at start, override this name.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': SERVICE_NAME })),
    instrumentations: [
      new GrpcInstrumentation({ ignoreGrpcMethods: UNTRACED_GRPC_METHODS }),
      // Only queries made inside a span (an RPC, an attempt): the worker's idle polls and the
      // health probe would otherwise be a new trace every second.
      new KnexInstrumentation({ requireParentSpan: true, maxQueryLength: MAX_QUERY_LENGTH }),
      new UndiciInstrumentation({ requireParentforSpans: true, requestHook: redactUrl }),
    ],
    metricReaders: [],
    logRecordProcessors: [],
  });
  tracing.start();
  return tracing;
}

/**
 * Webhook URLs often carry a token in their path or query (Slack-style hooks), so the HTTP
 * client span keeps only the origin.
 */
function redactUrl(span: Span, request: UndiciRequest): void {
  span.setAttributes({ 'url.full': `${request.origin}/REDACTED`, 'url.path': '/REDACTED', 'url.query': '' });
}
