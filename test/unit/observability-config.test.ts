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
