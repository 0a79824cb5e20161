/**
 * Delivery: how fast the sidecar drains due deliveries to receivers that answer 200 at once,
 * against a plain undici POST loop with the same concurrency and no database; then
 * event-to-receipt latency with events published at half that rate.
 */
import { Agent, request } from 'undici';
import { benchEnv, clients, startSidecar } from '../lib/children';
import { benchEvent, call, createWebhooks, setEnabled, TENANT } from '../lib/calls';
import { cpuBoundRows, cpuRow, databaseServer, measureCpu } from '../lib/cpu';
import { createDatabase, serverKnex } from '../lib/database';
import { closedLoop, openLoop } from '../lib/load';
import { BenchReceiver, waitFor } from '../lib/receiver';
import type { BenchOptions, Row } from '../lib/report';
import { summarize } from '../lib/stats';

const CONCURRENCY = 32;
const WEBHOOKS = 3;

export async function deliveryScenario(o: BenchOptions): Promise<Row[]> {
  const seconds = o.quick ? 1 : 10;
  const receivers = await Promise.all(Array.from({ length: WEBHOOKS }, () => BenchReceiver.start()));
  const urls = receivers.map((r) => r.url());
  const db = await createDatabase(o.mysqlUrl);
  const server = serverKnex(o.mysqlUrl);
  try {
    const dbServer = await databaseServer(server);
    const plain = await plainPostRate(urls, seconds * 1000);
    o.log(`plain undici POST loop: ${plain.toFixed(0)} posts/s`);
    const sidecar = await startSidecar(
      benchEnv(db.url, o, {
        WEBHOOKS_DELIVERY_CONCURRENCY: String(CONCURRENCY),
        // Three webhooks share the 32 slots, as the plain loop's 32 callers share three receivers.
        WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '16',
        // One tenant, as the plain loop has: it may use every slot (by default it gets half).
        WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: String(CONCURRENCY),
      }),
    );
    const c = clients(sidecar);
    const md = c.adminMd(TENANT);
    const ids = await createWebhooks(c.admin, md, urls, WEBHOOKS, false);
    const events = o.quick ? 400 : 10_000;
    await publishBatches(c, events, 'drain');
    const before = receivers.reduce((n, r) => n + r.received, 0);
    const start = Date.now();
    const total = events * WEBHOOKS;
    const drain = await measureCpu(sidecar.process.pid!, dbServer, async () => {
      for (const id of ids) await setEnabled(c.admin, md, id, true);
      await waitFor(() => receivers.reduce((n, r) => n + r.received, 0) - before >= total, 600_000, 'the drain');
    });
    const drainRate = total / ((Date.now() - start) / 1000);
    o.log(`sidecar drain: ${drainRate.toFixed(0)} deliveries/s`);

    for (const r of receivers) r.latencies.length = 0;
    const eventRate = o.deliveryRate ?? Math.max(1, Math.floor(drainRate / 2 / WEBHOOKS));
    const received = receivers.reduce((n, r) => n + r.received, 0);
    const { result: open, cpu: latencyCpu } = await measureCpu(sidecar.process.pid!, dbServer, async () => {
      const run = await openLoop(eventRate, seconds * 1000, (i) =>
        call(c.ingest.publishEvent.bind(c.ingest), { event: benchEvent(`lat-${i}`, Date.now()) }, c.ingestMd),
      );
      await waitFor(() => receivers.reduce((n, r) => n + r.received, 0) - received >= run.calls * WEBHOOKS, 120_000, 'latency-phase deliveries');
      return run;
    });
    const latency = summarize(receivers.flatMap((r) => r.latencies));
    c.ingest.close();
    c.admin.close();
    await sidecar.stop();
    return [
      { scenario: 'delivery', metric: 'drain to receivers answering 200 (32 in flight)', value: drainRate, unit: 'deliveries/s', baseline: { name: 'plain undici POST loop', value: plain } },
      {
        scenario: 'delivery',
        metric: `event-to-receipt at ${o.deliveryRate === undefined ? 'half that rate' : 'a fixed rate'} (${eventRate * WEBHOOKS} deliveries/s): p50 / p99`,
        value: latency.p99,
        unit: 'ms p99',
        note: `p50 ${latency.p50.toFixed(1)}, ${latency.count} samples`,
      },
      cpuRow('delivery', 'CPU per delivery, drain', drain.cpu, total, 'delivery'),
      ...cpuBoundRows('delivery', 'drain vs the CPU it cost', drainRate, 'deliveries/s', drain.cpu, total, 'delivery'),
      cpuRow('delivery', 'CPU per delivery, event-to-receipt phase (ingest included: 1 event, 3 deliveries)', latencyCpu, open.calls * WEBHOOKS, 'delivery'),
    ];
  } finally {
    await server.destroy();
    await Promise.all(receivers.map((r) => r.close()));
    await db.drop();
  }
}

/** PublishEvents in batches of 100, four batches in flight. */
export async function publishBatches(c: ReturnType<typeof clients>, events: number, prefix: string): Promise<void> {
  const batches = Math.ceil(events / 100);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let b = next++; b < batches; b = next++) {
        const size = Math.min(100, events - b * 100);
        await call(c.ingest.publishEvents.bind(c.ingest), { events: Array.from({ length: size }, (_, j) => benchEvent(`${prefix}-${b}-${j}`)) }, c.ingestMd);
      }
    }),
  );
}

/** The baseline: the same bodies POSTed by 32 callers through one keep-alive undici Agent. */
async function plainPostRate(urls: readonly string[], durationMs: number): Promise<number> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const body = JSON.stringify({ id: 'x', type: 'user.login', data: benchEvent('x').data });
  const run = await closedLoop(CONCURRENCY, durationMs, async (i) => {
    const res = await request(urls[i % urls.length]!, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.dump();
  });
  await agent.close();
  return run.calls / run.seconds;
}
