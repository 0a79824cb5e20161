/**
 * Isolation: 10 webhooks, 2 of which (20%) never answer (each attempt ends at the 1 s timeout).
 * The healthy 8's drain throughput and event-to-receipt p99, against the same run with all 10
 * healthy.
 */
import { benchEnv, clients, startSidecar } from '../lib/children';
import { benchEvent, call, createWebhooks, setEnabled, TENANT } from '../lib/calls';
import { createDatabase, outboxSummary } from '../lib/database';
import { openLoop } from '../lib/load';
import { BenchReceiver, waitFor } from '../lib/receiver';
import type { BenchOptions, Row } from '../lib/report';
import { summarize } from '../lib/stats';
import { publishBatches } from './delivery';

const HEALTHY = 8;
const SLOW = 2;

export async function isolationScenario(o: BenchOptions): Promise<Row[]> {
  const all = await run(o, 0);
  const slow = await run(o, SLOW);
  o.log(`isolation: healthy ${slow.rate.toFixed(0)}/s with 2 slow vs ${all.rate.toFixed(0)}/s all healthy`);
  return [
    { scenario: 'isolation', metric: 'healthy endpoints drain while 20% time out', value: slow.rate, unit: 'deliveries/s', baseline: { name: 'all endpoints healthy', value: all.rate } },
    { scenario: 'isolation', metric: 'healthy endpoints event-to-receipt p99 while 20% time out', value: slow.p99, unit: 'ms', baseline: { name: 'all endpoints healthy', value: all.p99 } },
  ];
}

async function run(o: BenchOptions, slowCount: number): Promise<{ rate: number; p99: number }> {
  const healthy = await BenchReceiver.start();
  const hanging = await BenchReceiver.start('hang');
  const db = await createDatabase(o.mysqlUrl);
  // Isolation between the endpoints of one tenant, as in earlier sessions: that tenant may use
  // every slot (by default a tenant gets half, and its two hanging webhooks would fill it).
  const env = { WEBHOOKS_REQUEST_TIMEOUT_MS: '1000', WEBHOOKS_SHUTDOWN_GRACE_MS: '500', WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: '32' };
  const sidecar = await startSidecar(benchEnv(db.url, o, env));
  const c = clients(sidecar);
  try {
    const md = c.adminMd(TENANT);
    const urls = [...Array.from({ length: HEALTHY }, (_, i) => healthy.url(`/h${i}`)), ...Array.from({ length: SLOW }, (_, i) => (i < slowCount ? hanging : healthy).url(`/s${i}`))];
    const ids = await createWebhooks(c.admin, md, urls, urls.length, false);
    const events = o.quick ? 100 : 2_000;
    await publishBatches(c, events, 'iso');
    const start = Date.now();
    for (const id of ids) await setEnabled(c.admin, md, id, true);
    const healthyCount = () => [...healthy.byPath].filter(([p]) => p.startsWith('/h')).reduce((n, [, v]) => n + v, 0);
    await waitFor(() => healthyCount() >= events * HEALTHY, 600_000, 'the healthy drain');
    const rate = (events * HEALTHY) / ((Date.now() - start) / 1000);
    // With all ten healthy, the two /s webhooks still drain after the eight: the latency phase
    // starts when they are done too, so both halves measure the eight alone.
    await waitFor(() => healthy.received >= events * (urls.length - slowCount), 600_000, 'the rest of the drain');
    healthy.timed = (path) => path.startsWith('/h');
    healthy.latencies.length = 0;
    const before = healthyCount();
    const open = await openLoop(o.quick ? 20 : 50, o.quick ? 1000 : 10_000, (i) =>
      call(c.ingest.publishEvent.bind(c.ingest), { event: benchEvent(`iso-lat-${i}`, Date.now()) }, c.ingestMd),
    );
    await waitFor(() => healthyCount() - before >= open.calls * HEALTHY, 120_000, 'latency-phase deliveries').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${healthyCount() - before} of ${open.calls * HEALTHY} received; outbox: ${await outboxSummary(db.url)}`);
    });
    return { rate, p99: summarize(healthy.latencies).p99 };
  } finally {
    c.ingest.close();
    c.admin.close();
    await sidecar.stop();
    await Promise.all([healthy.close(), hanging.close()]);
    await db.drop();
  }
}
