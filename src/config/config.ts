/**
 * The sidecar's configuration, parsed once from the environment, validated and frozen, then
 * passed down. Nothing else in src/ reads process.env. A bad value throws ConfigError naming the
 * variable, and main() stops the process with that message.
 */
import { AllowedRanges } from '../security/destination';
import { parseDbTls } from './db-tls';
import { parseDbUrl, type DbTarget } from './db-url';
import { ConfigError, EnvReader, type Env } from './env-reader';
import { parseOtel } from './otel';
import { parseTls, type TlsConfig } from './tls';

export { ConfigError, type Env };

export interface Tokens {
  readonly ingest: string;
  readonly admin: string;
  /** The platform operator's token; platform webhooks are off without it. */
  readonly platform: string | undefined;
}

export interface Config {
  readonly db: DbTarget;
  readonly grpcAddr: string;
  /** The HTTP listener for Prometheus (/metrics) and Kubernetes probes (/healthz, /readyz). */
  readonly metricsAddr: string;
  /** How often the queue gauges (depth, oldest pending) are refreshed from the database. */
  readonly queueMetricsIntervalMs: number;
  /**
   * Series each per-webhook counter (webhooks_attempts_total, webhooks_deliveries_total) holds
   * at most for the life of the process, the one labelled otel_metric_overflow="true" included,
   * which counts the rest.
   */
  readonly metricsWebhookSeries: number;
  /** TLS (mutual when a client CA is set) for the gRPC server; undefined: plaintext. */
  readonly tls: TlsConfig | undefined;
  readonly tokens: Tokens;
  /** The first key encrypts signing secrets; every key decrypts (key rotation). */
  readonly encryptionKeys: readonly Buffer[];
  readonly maxRetries: number;
  readonly retryBaseMs: number;
  readonly requestTimeoutMs: number;
  readonly allowedCidrs: AllowedRanges;
  /** Largest accepted event, as the JSON body a receiver gets. */
  readonly maxEventBytes: number;
  /** Deliveries in flight at once in this process. */
  readonly deliveryConcurrency: number;
  /** How often workers look for due retries and other replicas' work. */
  readonly pollIntervalMs: number;
  /** Attempts in flight at once to one webhook in this process: one slow endpoint cannot take every slot. */
  readonly maxInFlightPerWebhook: number;
  /**
   * Attempts in flight at once to one tenant's webhooks together in this process (platform
   * webhooks count as one tenant): one tenant's many slow endpoints cannot take every slot.
   */
  readonly maxInFlightPerTenant: number;
  /** How long the previous signing secret keeps signing beside a rotated one. */
  readonly secretOverlapMs: number;
  /** A webhook is disabled after this many consecutive failed attempts (0: never)... */
  readonly disableAfterFailures: number;
  /** ...once its failures have gone on for at least this long. */
  readonly disableAfterMs: number;
  /** Completed deliveries, their attempts and events are purged after this many days. */
  readonly retentionDays: number;
  /** On SIGTERM, how long attempts in flight may run before they are cut and their leases released. */
  readonly shutdownGraceMs: number;
  /**
   * Where ingest stores event bodies: "events" (in the events row, as every version reads them),
   * "separate" (in event_payloads, appended in arrival order; read only by versions that have the
   * event_payloads migration), or "auto": separate on a database that had that migration from
   * its first one, events on one migrated up to it (see storesBodiesApart and the README's
   * upgrade notes).
   */
  readonly eventBodies: EventBodies;
  readonly logLevel: string;
  /** Embedded mode (SQLite): where generated tokens and the key are kept. */
  readonly dataDir: string | undefined;
}

/** Settings that embedded mode may fill in; MySQL mode requires them. */
export interface PartialSecrets {
  readonly tokens: Partial<Tokens>;
  readonly encryptionKeys: readonly Buffer[];
}

export type EventBodies = 'auto' | 'events' | 'separate';
export const EVENT_BODIES: readonly EventBodies[] = ['auto', 'events', 'separate'];

export const DEFAULT_DB_URL = 'sqlite:./data/webhooks.db';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Parses everything but the secrets that embedded mode may generate. `fillSecrets` supplies
 * them (src/config/embedded.ts reads or creates them in the data folder).
 */
export function parseConfig(
  env: Env,
  fillSecrets: (db: DbTarget, given: PartialSecrets) => { tokens: Tokens; encryptionKeys: Buffer[] },
): Config {
  const read = new EnvReader(env);
  const target = read.with('WEBHOOKS_DB_URL', DEFAULT_DB_URL, parseDbUrl);
  const dbTls = parseDbTls(read, target.kind === 'mysql' ? target.host : undefined);
  const db: DbTarget = Object.freeze(target.kind === 'mysql' && dbTls ? { ...target, tls: dbTls } : target);
  const given: PartialSecrets = {
    tokens: {
      ingest: read.optionalToken('WEBHOOKS_INGEST_TOKEN'),
      admin: read.optionalToken('WEBHOOKS_ADMIN_TOKEN'),
      platform: read.optionalToken('WEBHOOKS_PLATFORM_TOKEN'),
    },
    encryptionKeys: read.with('WEBHOOKS_ENCRYPTION_KEY', '', parseEncryptionKeys),
  };
  checkTokensDiffer(given.tokens);
  const deliveryConcurrency = read.integer('WEBHOOKS_DELIVERY_CONCURRENCY', 32, 1, 1_024);
  const settings = {
    db,
    grpcAddr: read.with('WEBHOOKS_GRPC_ADDR', '0.0.0.0:50051', parseListenAddr),
    metricsAddr: read.with('WEBHOOKS_METRICS_ADDR', '0.0.0.0:9464', parseListenAddr),
    queueMetricsIntervalMs: read.integer('WEBHOOKS_QUEUE_METRICS_INTERVAL_MS', 15_000, 100, 3_600_000),
    metricsWebhookSeries: read.integer('WEBHOOKS_METRICS_WEBHOOK_SERIES', 10_000, 1, 1_000_000),
    tls: parseTls(read),
    maxRetries: read.integer('WEBHOOKS_MAX_RETRIES', 3, 0, 50),
    retryBaseMs: read.integer('WEBHOOKS_RETRY_BASE_MS', 30_000, 1, 86_400_000),
    requestTimeoutMs: read.integer('WEBHOOKS_REQUEST_TIMEOUT_MS', 15_000, 100, 300_000),
    allowedCidrs: read.with('WEBHOOKS_ALLOWED_CIDRS', '', (v) => AllowedRanges.parse(v)),
    maxEventBytes: read.integer('WEBHOOKS_MAX_EVENT_BYTES', 65_536, 1_024, 1_048_576),
    deliveryConcurrency,
    pollIntervalMs: read.integer('WEBHOOKS_POLL_INTERVAL_MS', 1_000, 10, 60_000),
    maxInFlightPerWebhook: read.integer('WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK', 8, 1, 1_024),
    // Half the slots by default: the rest stay free for the other tenants. A value below the
    // per-webhook cap is allowed; it binds first.
    maxInFlightPerTenant: read.integer('WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT', Math.max(1, Math.floor(deliveryConcurrency / 2)), 1, 1_024),
    secretOverlapMs: read.integer('WEBHOOKS_SECRET_OVERLAP_MS', 86_400_000, 0, 30 * 86_400_000),
    disableAfterFailures: read.integer('WEBHOOKS_DISABLE_AFTER_FAILURES', 50, 0, 1_000_000),
    disableAfterMs: read.integer('WEBHOOKS_DISABLE_AFTER_MS', 86_400_000, 0, 365 * 86_400_000),
    retentionDays: read.integer('WEBHOOKS_RETENTION_DAYS', 30, 1, 3_650),
    shutdownGraceMs: read.integer('WEBHOOKS_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    eventBodies: read.oneOf('WEBHOOKS_EVENT_BODIES', 'auto', EVENT_BODIES) as EventBodies,
    logLevel: read.oneOf('WEBHOOKS_LOG_LEVEL', 'info', LOG_LEVELS),
    dataDir: db.kind === 'sqlite' ? db.dataDir : undefined,
  };
  // The tracing SDK reads these itself (src/telemetry/tracing.ts); checked here like the rest.
  parseOtel(env);
  // Last, once everything else is known to be valid: embedded mode may write credentials, and a
  // start refused for a typo must not use up the one time they are printed.
  const secrets = fillSecrets(db, given);
  checkTokensDiffer(secrets.tokens);
  return Object.freeze({
    ...settings,
    tokens: Object.freeze({ ...secrets.tokens }),
    encryptionKeys: Object.freeze([...secrets.encryptionKeys]),
  });
}

function parseEncryptionKeys(value: string): Buffer[] {
  if (value.trim() === '') return [];
  return value.split(',').map((part, i) => {
    const key = Buffer.from(part.trim(), 'base64');
    if (key.length !== 32 || key.toString('base64') !== part.trim()) {
      throw new Error(`entry ${i + 1} must be the base64 of exactly 32 bytes`);
    }
    return key;
  });
}

function parseListenAddr(value: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65_535) {
    throw new Error('must be host:port, e.g. 0.0.0.0:50051');
  }
  return value;
}

function checkTokensDiffer(tokens: Partial<Tokens>): void {
  const all = [tokens.ingest, tokens.admin, tokens.platform].filter((t) => t !== undefined);
  if (new Set(all).size !== all.length) {
    throw new ConfigError(
      'WEBHOOKS_INGEST_TOKEN, WEBHOOKS_ADMIN_TOKEN and WEBHOOKS_PLATFORM_TOKEN must all differ',
    );
  }
}
