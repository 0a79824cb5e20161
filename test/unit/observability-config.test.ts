/**
 * The observability settings: when the tracing SDK starts (an exporter asked for by name or by
 * an OTLP endpoint, never by default), and the ops listener and queue gauge settings.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { parseConfig, ConfigError, type Env } from '../../src/config/config';
import { tracingRequested } from '../../src/config/otel';

const fill = () => ({
  tokens: { ingest: 'i'.repeat(16), admin: 'a'.repeat(16), platform: undefined },
  encryptionKeys: [randomBytes(32)],
});
const MYSQL: Env = { WEBHOOKS_DB_URL: 'mysql://root@127.0.0.1:3306/x' };

describe('config/tracingRequested', () => {
  const cases: Array<[Env, boolean]> = [
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'idp-webhooks' }, false],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp, none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp,console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, true],
    // An invalid setting starts no SDK: parseConfig stops the process, naming it.
    [{ OTEL_TRACES_EXPORTER: 'otlp-http' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_SAMPLER: 'bogus' }, false],
  ];
  for (const [env, expected] of cases) {
    it(`${JSON.stringify(env)} → ${expected ? 'on' : 'off'}`, () => {
      expect(tracingRequested(env)).to.equal(expected);
    });
  }
});

describe('config: observability settings', () => {
  it('listens for metrics and probes on 0.0.0.0:9464 and refreshes the queue gauges every 15 s by default', () => {
    const config = parseConfig(MYSQL, fill);
    expect(config.metricsAddr).to.equal('0.0.0.0:9464');
    expect(config.queueMetricsIntervalMs).to.equal(15_000);
    expect(config.metricsWebhookSeries).to.equal(10_000);
  });

  it('takes WEBHOOKS_METRICS_ADDR, WEBHOOKS_QUEUE_METRICS_INTERVAL_MS and WEBHOOKS_METRICS_WEBHOOK_SERIES', () => {
    const config = parseConfig(
      { ...MYSQL, WEBHOOKS_METRICS_ADDR: '[::1]:9100', WEBHOOKS_QUEUE_METRICS_INTERVAL_MS: '5000', WEBHOOKS_METRICS_WEBHOOK_SERIES: '50000' },
      fill,
    );
    expect(config.metricsAddr).to.equal('[::1]:9100');
    expect(config.queueMetricsIntervalMs).to.equal(5_000);
    expect(config.metricsWebhookSeries).to.equal(50_000);
  });

  for (const [name, value] of [
    ['WEBHOOKS_METRICS_ADDR', '9464'],
    ['WEBHOOKS_METRICS_ADDR', '0.0.0.0:99999'],
    ['WEBHOOKS_QUEUE_METRICS_INTERVAL_MS', '10'],
    ['WEBHOOKS_QUEUE_METRICS_INTERVAL_MS', 'often'],
    ['WEBHOOKS_METRICS_WEBHOOK_SERIES', '0'],
    ['WEBHOOKS_METRICS_WEBHOOK_SERIES', 'many'],
  ] as const) {
    it(`rejects ${name}=${value} naming it`, () => {
      expect(() => parseConfig({ ...MYSQL, [name]: value }, fill)).to.throw(ConfigError, name);
    });
  }
});

describe('config: the OTEL_* settings of the tracing SDK', () => {
  const accepted: Env[] = [
    { OTEL_TRACES_EXPORTER: 'otlp' },
    { OTEL_TRACES_EXPORTER: 'otlp, console' },
    { OTEL_TRACES_EXPORTER: 'zipkin' },
    { OTEL_TRACES_EXPORTER: 'none' },
    { OTEL_TRACES_EXPORTER: ' ' },
    { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' },
    { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
    { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' },
    { OTEL_TRACES_SAMPLER: 'always_off' },
    { OTEL_TRACES_SAMPLER_ARG: '0' },
    { OTEL_SDK_DISABLED: 'TRUE' },
    // Never read by the SDK as the sidecar sets it up: no metric reader, no log processor.
    { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_LOGS_EXPORTER: 'whatever' },
  ];
  for (const env of accepted) {
    it(`accepts ${JSON.stringify(env)}`, () => {
      expect(() => parseConfig({ ...MYSQL, ...env }, fill)).to.not.throw();
    });
  }

  const refused: Array<[string, string]> = [
    ['OTEL_TRACES_EXPORTER', 'otlp-http'],
    ['OTEL_TRACES_EXPORTER', 'otlp,jaeger'],
    ['OTEL_TRACES_EXPORTER', 'OTLP'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'bogus'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http'],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'grpc '],
    ['OTEL_TRACES_SAMPLER', 'bogus'],
    ['OTEL_TRACES_SAMPLER', 'jaeger_remote'],
    ['OTEL_TRACES_SAMPLER_ARG', 'abc'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
    ['OTEL_TRACES_SAMPLER_ARG', '-0.1'],
    ['OTEL_SDK_DISABLED', 'yes'],
  ];
  for (const [name, value] of refused) {
    it(`rejects ${name}=${JSON.stringify(value)} naming it`, () => {
      expect(() => parseConfig({ ...MYSQL, [name]: value }, fill)).to.throw(ConfigError, new RegExp(`^${name}: `));
    });
  }

  it('refuses a ratio sampler with a bad ratio, naming the argument', () => {
    const env = { ...MYSQL, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'abc' };
    expect(() => parseConfig(env, fill)).to.throw(ConfigError, /^OTEL_TRACES_SAMPLER_ARG: must be a sampling ratio from 0 to 1/);
  });
});
