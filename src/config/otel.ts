/**
 * The OTEL_* variables that the tracing SDK setup (src/telemetry/tracing.ts) honours, checked like
 * every other setting, and whether the SDK starts. The SDK reads them itself, and on a value it
 * does not know it only warns on its diagnostic logger (silent by default) and falls back, or
 * exports nothing: `OTEL_TRACES_EXPORTER=otlp-http` would start "tracing" that never sends a span.
 * So a value the SDK would not use as written stops the process, naming the variable.
 *
 * The SDK's default exporter is OTLP to localhost:4318, which would make every laptop start
 * retry exports to a collector that is not there; so tracing is off unless an exporter is asked
 * for, either by name or by giving an OTLP endpoint.
 *
 * OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER are not checked: the SDK is given no metric reader
 * and no log processor, so it never reads them (metrics are src/telemetry/metrics.ts's Prometheus
 * endpoint, logs are pino's).
 */
import { ConfigError, EnvReader, type Env } from './env-reader';

/** As @opentelemetry/sdk-node 0.223 knows them: case-sensitive, in a comma-separated list. */
export const TRACES_EXPORTERS = ['otlp', 'zipkin', 'console', 'none'] as const;
/** The three OTLP trace exporters the SDK ships (exporter-trace-otlp-grpc, -proto and -http). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** Checks the OTEL_* variables; true when tracing is asked for. Throws ConfigError naming the variable. */
export function parseOtel(env: Env): boolean {
  const read = new EnvReader(env);
  const disabled = read.with('OTEL_SDK_DISABLED', '', parseBoolean);
  const exporters = read.with('OTEL_TRACES_EXPORTER', '', parseExporters);
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    read.with(name, '', exactlyOneOf(OTLP_PROTOCOLS));
  }
  read.with('OTEL_TRACES_SAMPLER', '', exactlyOneOf(TRACES_SAMPLERS));
  // Every sampler above takes a ratio or nothing: an argument that is not a ratio is a mistake.
  read.with('OTEL_TRACES_SAMPLER_ARG', '', parseRatio);
  if (disabled) return false;
  if (exporters.length > 0) return !exporters.includes('none');
  return [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].some(
    (value) => (value ?? '').trim() !== '',
  );
}

/** Whether the SDK starts; false for an invalid setting too, which parseConfig then reports. */
export function tracingRequested(env: Env): boolean {
  try {
    return parseOtel(env);
  } catch (err) {
    if (err instanceof ConfigError) return false;
    throw err;
  }
}

/** Read from the process environment by src/telemetry/tracing.ts, before the config is parsed. */
export function tracingRequestedByProcess(): boolean {
  return tracingRequested(process.env);
}

/** The SDK treats a value of only spaces as unset. */
const blank = (value: string): boolean => value.trim() === '';

function parseBoolean(value: string): boolean {
  if (blank(value)) return false;
  const lower = value.trim().toLowerCase();
  if (lower !== 'true' && lower !== 'false') throw new Error(`must be true or false, got "${value}"`);
  return lower === 'true';
}

function parseExporters(value: string): string[] {
  if (blank(value)) return [];
  const names = value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) {
    if (!(TRACES_EXPORTERS as readonly string[]).includes(name)) {
      throw new Error(`"${name}" is not an exporter; a comma-separated list of ${TRACES_EXPORTERS.join(', ')}`);
    }
  }
  return names;
}

/** The SDK compares these as given, spaces and case included. */
function exactlyOneOf(allowed: readonly string[]): (value: string) => void {
  return (value) => {
    if (!blank(value) && !allowed.includes(value)) throw new Error(`must be one of ${allowed.join(', ')}, got "${value}"`);
  };
}

function parseRatio(value: string): void {
  if (blank(value)) return;
  const ratio = Number(value);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new Error(`must be a sampling ratio from 0 to 1, got "${value}"`);
  }
}
