/**
 * Ingest: unary PublishEvent through the whole pipeline against the gRPC ceiling (the same
 * client against a server that answers at once), open-loop latency at fixed rates, batches and
 * streams against the same server's batches and stream, the raw mysql2 insert ceiling, and events
 * per InnoDB log fsync. 1 KB events, fan-out 3; the webhooks are disabled so their deliveries are
 * written (paused) but not sent, which keeps delivery work out of the ingest figures.
 */
import type { Knex } from 'knex';
import { clients, startNullServer, startSidecar, benchEnv, type Child } from '../lib/children';
import { benchEvent, call, createWebhooks, TENANT } from '../lib/calls';
import { createDatabase, logFsyncs, serverKnex } from '../lib/database';
import { closedLoop, openLoop } from '../lib/load';
import { describeRuntime, describeSlowCalls, runtimeDuring } from '../lib/runtime';
import type { BenchOptions, Row } from '../lib/report';
import { summarize, type Latency } from '../lib/stats';
import { commitLatency, openLoopCommits, rawInsertCeiling } from './raw-insert';
import { cpuBoundRows, cpuRow, databaseServer, describeCpu, measureCpu, type CpuUse, type DatabaseServer } from '../lib/cpu';

const CONCURRENCY = 32;
const FANOUT = 3;

export async function ingestScenario(o: BenchOptions): Promise<Row[]> {
  const seconds = o.quick ? 1 : 10;
  const rows: Row[] = [];
  const rates = o.quick ? [200] : [500, 1000, 2000];
  const nullServer = await startNullServer();
  const ceiling = await unarySaturation(nullServer, seconds * 1000, 'ceiling', undefined);
  // The latency floors at each offered rate: this client against a server that answers at once
  // (gRPC's own tail on this machine), and the database alone committing each event's rows.
  const grpcFloor = new Map<number, Latency>();
  const nullClients = clients(nullServer);
  for (const rate of rates) grpcFloor.set(rate, summarize((await openLoop(rate, seconds * 1000, (i) => publish(nullServer, nullClients, `floor-${rate}-${i}`))).latencies));
  // What gRPC alone carries in batches of 100 and on one stream, with this client.
  const batchCeiling = (await publishBatches(nullClients, 16, seconds * 1000, 'ceiling')).rate;
  const streamCeiling = (await streamRate(nullClients, seconds * 1000)).rate;
  nullClients.ingest.close();
  nullClients.admin.close();
  await nullServer.stop();
  o.log(`gRPC ceiling: ${ceiling.rate.toFixed(0)} calls/s, ${batchCeiling.toFixed(0)} events/s in batches, ${streamCeiling.toFixed(0)} on a stream`);
  const dbFloor = new Map<number, Latency>();
  for (const rate of rates) dbFloor.set(rate, await openLoopCommits(o.mysqlUrl, rate, seconds * 1000, FANOUT));

  const db = await createDatabase(o.mysqlUrl);
  const server = serverKnex(o.mysqlUrl);
  try {
    const dbServer = await databaseServer(server);
    const sidecar = await startSidecar(benchEnv(db.url, o));
    const c = clients(sidecar);
    await createWebhooks(c.admin, c.adminMd(TENANT), ['http://127.0.0.1:9/unused'], FANOUT, false);
    const fsyncsBefore = await logFsyncs(server);
    const unary = await unarySaturation(sidecar, seconds * 1000, 'unary', dbServer);
    const fsyncsAfter = await logFsyncs(server);
    const fsyncs = fsyncsAfter.value - fsyncsBefore.value;
    o.log(`unary PublishEvent: ${unary.rate.toFixed(0)} events/s`);
    rows.push(
      { scenario: 'ingest', metric: 'PublishEvent at saturation (32 in flight)', value: unary.rate, unit: 'events/s', baseline: { name: 'gRPC ceiling', value: ceiling.rate } },
      { scenario: 'ingest', metric: 'PublishEvent p99 at saturation', value: unary.p99, unit: 'ms', baseline: { name: 'gRPC ceiling p99', value: ceiling.p99 } },
      {
        scenario: 'ingest',
        metric: 'events per InnoDB log fsync at saturation',
        value: unary.calls / Math.max(1, fsyncs),
        unit: 'events/fsync',
        note: `${fsyncs} ${fsyncsAfter.name} for ${unary.calls} events; all InnoDB fsyncs, the data files' included: ${fsyncsAfter.allFsyncs - fsyncsBefore.allFsyncs}`,
      },
      // A closed loop of 32 callers cannot outrun the log: each call waits for a flush, so at
      // best every flush carries all 32 (the flush count over-counts, so this bound is generous).
      {
        scenario: 'ingest',
        metric: 'PublishEvent at saturation vs the commit-latency bound (32 in flight x log flushes/s)',
        value: unary.rate,
        unit: 'events/s',
        baseline: { name: `commit-latency bound, ${(fsyncs / unary.seconds).toFixed(0)} flushes/s`, value: (CONCURRENCY * fsyncs) / unary.seconds },
      },
      cpuRow('ingest', 'CPU per PublishEvent at saturation', unary.cpu, unary.calls, 'event', { name: 'the gRPC ceiling server, µs per call', value: (ceiling.cpu.childMs * 1000) / ceiling.calls }),
    );
    rows.push(...cpuBoundRows('ingest', 'PublishEvent at saturation vs the CPU it cost', unary.rate, 'events/s', unary.cpu, unary.calls, 'event'));
    for (const rate of rates) {
      const {
        result: { result: open, runtime },
        cpu,
      } = await measureCpu(sidecar.process.pid!, dbServer, () => runtimeDuring(sidecar, () => openLoop(rate, seconds * 1000, (i) => publish(sidecar, c, `open-${rate}-${i}`))));
      const l = summarize(open.latencies);
      const explained = `${describeSlowCalls(open.latencies, runtime)}; ${describeRuntime(runtime)}; ${describeCpu(cpu, open.calls)}`;
      o.log(`open loop ${rate}/s: p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} ms, ${open.errors} errors; ${explained}`);
      const floors = [
        ['gRPC server answering at once', grpcFloor.get(rate)!],
        ['raw mysql2 transactions, one event + its 3 deliveries each', dbFloor.get(rate)!],
      ] as const;
      rows.push({ scenario: 'ingest', metric: `PublishEvent at ${rate}/s offered: p50 / p99 / p99.9`, value: l.p99, unit: 'ms p99', note: `p50 ${l.p50.toFixed(2)}, p99.9 ${l.p999.toFixed(2)}, ${open.errors} errors; ${explained}` });
      for (const [name, floor] of floors) {
        rows.push({ scenario: 'ingest', metric: `latency floor at ${rate}/s offered: ${name}`, value: floor.p99, unit: 'ms p99', note: `p50 ${floor.p50.toFixed(2)}, p99.9 ${floor.p999.toFixed(2)}` });
      }
    }
    // Few calls in flight leave the sidecar waiting on each commit; a busy core has more.
    const batchRates: number[] = [];
    for (const inFlight of [4, 16]) {
      const { result: batches, cpu } = await measureCpu(sidecar.process.pid!, dbServer, () => publishBatches(c, inFlight, seconds * 1000, `batch-${inFlight}`));
      batchRates.push(batches.rate);
      rows.push({ scenario: 'ingest', metric: `PublishEvents, batches of 100 (${inFlight} in flight)`, value: batches.rate, unit: 'events/s', baseline: { name: 'gRPC ceiling, batches of 100, 16 in flight', value: batchCeiling } });
      if (inFlight === 16) {
        rows.push(cpuRow('ingest', 'CPU per event, PublishEvents (16 in flight)', cpu, batches.events, 'event'));
        rows.push(...cpuBoundRows('ingest', 'PublishEvents (16 in flight) vs the CPU it cost', batches.rate, 'events/s', cpu, batches.events, 'event'));
      }
    }
    const stream = await measureCpu(sidecar.process.pid!, dbServer, () => streamRate(c, seconds * 1000));
    rows.push({ scenario: 'ingest', metric: 'StreamEvents, one stream', value: stream.result.rate, unit: 'events/s', baseline: { name: 'gRPC ceiling, one stream', value: streamCeiling } });
    rows.push(cpuRow('ingest', 'CPU per event, one StreamEvents', stream.cpu, stream.result.acks, 'event'));
    rows.push(...cpuBoundRows('ingest', 'StreamEvents vs the CPU it cost', stream.result.rate, 'events/s', stream.cpu, stream.result.acks, 'event'));
    c.ingest.close();
    c.admin.close();
    await sidecar.stop();
    const raw = await rawInsertCeiling(o.mysqlUrl, seconds * 1000, FANOUT);
    rows.push({ scenario: 'ingest', metric: 'database ceiling: raw mysql2 multi-row inserts (100 events + 300 deliveries a commit)', value: raw, unit: 'events/s' });
    rows.push({ scenario: 'ingest', metric: 'PublishEvent at saturation vs the database ceiling', value: unary.rate, unit: 'events/s', baseline: { name: 'raw insert ceiling', value: raw } });
    const floor = await commitLatency(o.mysqlUrl, o.quick ? 100 : 2_000);
    rows.push({ scenario: 'ingest', metric: 'database commit floor: one-row transactions, one at a time: p50 / p99', value: floor.p99, unit: 'ms p99', note: `p50 ${floor.p50.toFixed(2)}` });
    rows.push({ scenario: 'ingest', metric: 'PublishEvents (16 in flight) vs the database ceiling', value: batchRates[1]!, unit: 'events/s', baseline: { name: 'raw insert ceiling', value: raw } });
  } finally {
    await server.destroy();
    await db.drop();
  }
  return rows;
}

interface Saturation {
  rate: number;
  p99: number;
  calls: number;
  seconds: number;
  cpu: CpuUse;
}

async function unarySaturation(child: Child, durationMs: number, prefix: string, dbServer: DatabaseServer | undefined): Promise<Saturation> {
  const c = clients(child);
  // Warm up: connections, JIT, the first commits.
  await closedLoop(CONCURRENCY, Math.min(1000, durationMs), (i) => publish(child, c, `${prefix}-warm-${i}`));
  const { result: run, cpu } = await measureCpu(child.process.pid!, dbServer, () => closedLoop(CONCURRENCY, durationMs, (i) => publish(child, c, `${prefix}-${i}`)));
  c.ingest.close();
  c.admin.close();
  return { rate: run.calls / run.seconds, p99: summarize(run.latencies).p99, calls: run.calls, seconds: run.seconds, cpu };
}

function publish(_child: Child, c: ReturnType<typeof clients>, id: string): Promise<unknown> {
  return call(c.ingest.publishEvent.bind(c.ingest), { event: benchEvent(id) }, c.ingestMd);
}

/** PublishEvents calls of 100 events, `inFlight` at once (closed loop). */
async function publishBatches(c: ReturnType<typeof clients>, inFlight: number, durationMs: number, prefix: string): Promise<{ rate: number; events: number }> {
  const run = await closedLoop(inFlight, durationMs, (i) =>
    call(c.ingest.publishEvents.bind(c.ingest), { events: Array.from({ length: 100 }, (_, j) => benchEvent(`${prefix}-${i}-${j}`)) }, c.ingestMd),
  );
  return { rate: (run.calls * 100) / run.seconds, events: run.calls * 100 };
}

/** One StreamEvents call: write as fast as flow control lets us, count acknowledgements. */
function streamRate(c: ReturnType<typeof clients>, durationMs: number): Promise<{ rate: number; acks: number }> {
  return new Promise((resolve, reject) => {
    const stream = c.ingest.streamEvents(c.ingestMd);
    let acks = 0;
    let sent = 0;
    const start = Date.now();
    stream.on('data', () => (acks += 1));
    stream.on('error', reject);
    stream.on('end', () => resolve({ rate: acks / ((Date.now() - start) / 1000), acks }));
    const pump = (): void => {
      while (Date.now() - start < durationMs) {
        if (!stream.write({ event: benchEvent(`stream-${sent++}`) })) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
}

export type { Knex };
