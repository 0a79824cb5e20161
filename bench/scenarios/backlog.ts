/**
 * Backlog: N pending deliveries already in the outbox when the sidecar starts (after an outage
 * of every receiver, say). The claim query's time at that depth, the drain time, and the
 * sidecar's resident memory while it drains, which must stay flat: nothing is loaded but the
 * rows claimed.
 */
import { performance } from 'node:perf_hooks';
import { benchEnv, clients, startSidecar } from '../lib/children';
import { cpuBoundRows, cpuRow, databaseServer, measureCpu } from '../lib/cpu';
import { benchEvent, createWebhooks, TENANT } from '../lib/calls';
import { createDatabase, serverKnex } from '../lib/database';
import { BenchReceiver, waitFor } from '../lib/receiver';
import type { BenchOptions, Row } from '../lib/report';
import { summarize } from '../lib/stats';
import { storesBodiesApart } from '../../src/db/migrate';
import { newDeliveryId } from '../../src/ids';
import { insertEvents } from '../../src/ingest/outbox-rows';
import { renderPayload } from '../../src/ingest/validate-event';

const WEBHOOKS = 3;
const WARM_UP_SAMPLES = 60;

export async function backlogScenario(o: BenchOptions): Promise<Row[]> {
  const receivers = await Promise.all(Array.from({ length: WEBHOOKS }, () => BenchReceiver.start()));
  const db = await createDatabase(o.mysqlUrl);
  const knex = serverKnex(o.mysqlUrl, db.name);
  // One tenant: it may use every slot (by default a tenant gets half), as in earlier sessions.
  const env = benchEnv(db.url, o, { WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '16', WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: '32' });
  try {
    // A first start migrates the database and registers the webhooks; then the backlog is written
    // behind its back, as an outage would have left it.
    const first = await startSidecar(env);
    const c = clients(first);
    const ids = await createWebhooks(c.admin, c.adminMd(TENANT), receivers.map((r) => r.url()), WEBHOOKS, true);
    c.ingest.close();
    c.admin.close();
    await first.stop();
    const t0 = performance.now();
    // Where the sidecar would write them: with auto, apart on this new database.
    await writeBacklog(knex, ids, o.backlog, await storesBodiesApart(knex, o.eventBodies));
    o.log(`backlog of ${o.backlog} written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const claim = await claimQueryMs(knex);

    const dbServer = await databaseServer(knex);
    const sidecar = await startSidecar(env);
    const start = Date.now();
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(sidecar.rssMb()), 1000);
    // The CPU it takes too: a smaller heap is paid for in garbage collection.
    const { cpu } = await measureCpu(sidecar.process.pid!, dbServer, () =>
      waitFor(() => receivers.reduce((n, r) => n + r.received, 0) >= o.backlog, 3_600_000, 'the backlog to drain'),
    );
    clearInterval(sampler);
    const drainSeconds = (Date.now() - start) / 1000;
    await sidecar.stop();
    const spread = rss.length > 0 ? Math.max(...rss) - Math.min(...rss) : NaN;
    // The first minute holds the start-up growth (V8 sizing its heap to the work); after it,
    // whether memory stays flat is what tells a leak from a warm-up.
    const settled = rss.slice(WARM_UP_SAMPLES);
    // A trend shows as a difference between the settled run's first and last minute (GC makes
    // each sample swing; the means of a minute do not).
    const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const trend =
      settled.length >= 2 * WARM_UP_SAMPLES
        ? `; mean ${mean(settled.slice(0, WARM_UP_SAMPLES)).toFixed(0)} MB in its first minute, ${mean(settled.slice(-WARM_UP_SAMPLES)).toFixed(0)} MB in its last`
        : '';
    const settledNote =
      settled.length > 0
        ? `; after the first ${WARM_UP_SAMPLES} s: ${Math.min(...settled).toFixed(0)}-${Math.max(...settled).toFixed(0)} MB over ${settled.length} samples${trend}`
        : '';
    o.log(`backlog drained in ${drainSeconds.toFixed(1)} s; RSS ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MB`);
    return [
      { scenario: 'backlog', metric: `claim query (32 due rows, FOR UPDATE SKIP LOCKED) at ${o.backlog.toLocaleString('en-US')} pending: p50 / p99`, value: claim.p99, unit: 'ms p99', note: `p50 ${claim.p50.toFixed(2)}` },
      { scenario: 'backlog', metric: `drain of ${o.backlog.toLocaleString('en-US')} pending deliveries`, value: drainSeconds, unit: 's', note: `${(o.backlog / drainSeconds).toFixed(0)} deliveries/s` },
      cpuRow('backlog', 'CPU per delivery, backlog drain', cpu, o.backlog, 'delivery'),
      ...cpuBoundRows('backlog', 'backlog drain vs the CPU it cost', o.backlog / drainSeconds, 'deliveries/s', cpu, o.backlog, 'delivery'),
      { scenario: 'backlog', metric: 'sidecar RSS while draining: max', value: rss.length ? Math.max(...rss) : NaN, unit: 'MB', note: `min ${rss.length ? Math.min(...rss).toFixed(0) : 'n/a'}, spread ${spread.toFixed(0)} MB over ${rss.length} samples${settledNote}` },
    ];
  } finally {
    await knex.destroy();
    await Promise.all(receivers.map((r) => r.close()));
    await db.drop();
  }
}

/** Events with WEBHOOKS deliveries each, written with multi-row inserts, as ingest writes them. */
async function writeBacklog(
  knex: ReturnType<typeof serverKnex>,
  webhookIds: readonly string[],
  deliveries: number,
  separateBodies: boolean,
): Promise<void> {
  const now = Date.now();
  const events = Math.ceil(deliveries / webhookIds.length);
  let written = 0;
  for (let start = 0; start < events; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, events - start) }, (_, i) => `backlog-${start + i}`);
    const validEvents = batch.map((id) => {
      const e = benchEvent(id);
      const valid = { tenantId: TENANT, id, type: e.type, organizationId: null, occurredAt: now };
      return { ...valid, payload: renderPayload(valid, e.data!) };
    });
    const deliveryRows = batch.flatMap((id) =>
      webhookIds.map((webhookId) => ({
        id: newDeliveryId(),
        tenant_id: TENANT,
        event_tenant_id: TENANT,
        webhook_id: webhookId,
        event_id: id,
        event_type: 'user.login',
        status: 'pending',
        attempt_count: 0,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })),
    ).slice(0, deliveries - written);
    written += deliveryRows.length;
    await knex.transaction(async (trx) => {
      await insertEvents(trx, validEvents, webhookIds.length, now, separateBodies);
      for (let i = 0; i < deliveryRows.length; i += 1000) await trx('deliveries').insert(deliveryRows.slice(i, i + 1000));
    });
  }
}

/** The claim's locking read at this depth, rolled back each time: what one claim costs. */
async function claimQueryMs(knex: ReturnType<typeof serverKnex>) {
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await knex.transaction(
      async (trx) => {
        await trx('deliveries').select('id', 'webhook_id').where('status', 'pending').andWhere('next_attempt_at', '<=', Date.now()).orderBy('next_attempt_at').limit(32).forUpdate().skipLocked();
        throw new Error('rollback');
      },
      { isolationLevel: 'read committed' },
    ).catch(() => undefined);
    times.push(performance.now() - t);
  }
  return summarize(times);
}
