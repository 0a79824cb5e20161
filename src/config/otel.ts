/**
 * Whether the OpenTelemetry tracing SDK starts. Everything else about it (endpoint, protocol,
 * headers, sampler, resource, propagators) is the SDK's own OTEL_* variables, read by the SDK.
 *
 * The SDK's default exporter is OTLP to localhost:4318, which would make every laptop start
 * retry exports to a collector that is not there; so tracing is off unless an exporter is asked
 * for, either by name or by giving an OTLP endpoint.
 */
import type { Env } from './env-reader';

export function tracingRequested(env: Env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  if (exporters.length > 0) return !exporters.includes('none');
  return [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].some(
    (value) => (value ?? '').trim() !== '',
  );
}

/** Read from the process environment by src/telemetry/tracing.ts, before the config is parsed. */
export function tracingRequestedByProcess(): boolean {
  return tracingRequested(process.env);
}
