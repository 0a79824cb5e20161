/**
 * The per-webhook counters' cap: the first label sets by name, the rest in one overflow series,
 * for the life of the process however often it is scraped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import { expect } from 'chai';
import { BoundedCounter, OVERFLOW_ATTRIBUTES } from '../../src/telemetry/bounded-counter';
import { MetricsRegistry } from '../../src/telemetry/metrics';
import { Scrape } from '../support/ops';

/** What one collection would export. */
function observed(counter: BoundedCounter): Array<[number, Attributes]> {
  const seen: Array<[number, Attributes]> = [];
  counter.observe({ observe: (value: number, attributes: Attributes = {}) => seen.push([value, attributes]) } as ObservableResult);
  return seen;
}

const hook = (id: string, outcome = 'success') => ({ tenant_id: 't', webhook_id: id, outcome });

describe('telemetry/BoundedCounter', () => {
  it('counts the first limit - 1 label sets by name and every later one in the overflow series', () => {
    const counter = new BoundedCounter(3);
    counter.add(1, hook('a'));
    counter.add(1, hook('b'));
    expect(observed(counter)).to.deep.equal([[1, hook('a')], [1, hook('b')]]);
    counter.add(1, hook('c'));
    counter.add(2, hook('a'));
    counter.add(1, hook('b', 'failure'));
    counter.add(1, hook('c'));
    expect(observed(counter)).to.deep.equal([[3, hook('a')], [1, hook('b')], [3, OVERFLOW_ATTRIBUTES]]);
  });

  it('takes a label set in any order of its attributes as the same series', () => {
    const counter = new BoundedCounter(2);
    counter.add(1, { webhook_id: 'a', tenant_id: 't', outcome: 'success' });
    counter.add(1, hook('a'));
    expect(observed(counter)).to.deep.equal([[2, { webhook_id: 'a', tenant_id: 't', outcome: 'success' }]]);
  });

  it('with a limit of 1 counts everything in the overflow series', () => {
    const counter = new BoundedCounter(1);
    counter.add(1, hook('a'));
    counter.add(4, hook('b'));
    expect(observed(counter)).to.deep.equal([[5, OVERFLOW_ATTRIBUTES]]);
  });

  it('keeps the cap across scrapes on /metrics, above the SDK default of 2,000 too', async () => {
    const registry = new MetricsRegistry({ webhookSeries: 2500 });
    const server = http.createServer((req, res) => registry.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // A scrape between each thousand label sets: each collection starts afresh in the SDK.
      let scrape: Scrape | undefined;
      for (let batch = 0; batch < 3; batch++) {
        for (let i = 0; i < 1000; i++) registry.instruments.attempts.add(1, hook(`w${batch * 1000 + i}`));
        scrape = await Scrape.of(port);
      }
      const samples = scrape!.samples.filter((s) => s.name === 'webhooks_attempts_total');
      expect(samples.filter((s) => s.labels.webhook_id !== undefined)).to.have.length(2499);
      expect(samples.filter((s) => s.labels.otel_metric_overflow === 'true').map((s) => s.value)).to.deep.equal([501]);
      expect(scrape!.value('webhooks_attempts_total')).to.equal(3000);
      expect(scrape!.has('webhooks_attempts_total', hook('w2498'))).to.equal(true);
      expect(scrape!.has('webhooks_attempts_total', hook('w2499'))).to.equal(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await registry.shutdown();
    }
  });
});
