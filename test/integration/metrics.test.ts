/**
 * GET /metrics after a run whose every count is known in advance: four webhooks (one answering
 * 200, one failing each delivery's first attempt, one 410 Gone, one always 500 with a single
 * retry allowed), events created, repeated and refused, and one lease left to expire by hand.
 * The scraped counters, histogram counts and queue gauges must match what happened exactly.
 */
import { expect } from 'chai';
import { ulid } from 'ulid';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { forEachDatabase } from '../support/databases';
import { grpcHealthOf, httpGet, Scrape } from '../support/ops';
import { HoldingReceiver } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-metrics';

function event(id: string, type: string, data: Record<string, unknown> = { user_id: `u-${id}` }): Event {
  return { id, tenantId: TENANT, type, occurredAt: new Date(), organizationId: '', data };
}

forEachDatabase('metrics on /metrics', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await receiver?.close();
    await sidecar?.stop();
    sidecar = undefined;
  });

  it('counts ingest, attempts, outcomes, retries, disabling and lease expiries as they happened', async function () {
    this.timeout(60_000);
    sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_MAX_RETRIES: '1',
      WEBHOOKS_QUEUE_METRICS_INTERVAL_MS: '100',
    });
    receiver = await TestReceiver.start();
    const seen = new Set<string>();
    receiver.respondWith((req) => {
      const kind = req.path.slice(1);
      if (kind === 'gone') return { status: 410 };
      if (kind === 'dead') return { status: 500 };
      if (kind === 'flaky') {
        const first = !seen.has(String(req.headers['webhook-id']));
        seen.add(String(req.headers['webhook-id']));
        if (first) return { status: 500 };
      }
      return { status: 200 };
    });
    const base = receiver.url.replace(/\/hooks$/, '');
    const ids: Record<string, string> = {};
    for (const [kind, types] of [['ok', ['user.login']], ['flaky', ['user.login']], ['gone', ['user.logout']], ['dead', ['user.logout']]] as const) {
      const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: `${base}/${kind}`, eventTypes: [...types], description: kind, organizationIds: [] });
      ids[kind] = webhook!.id;
    }

    // Three publish calls: two logins and a refused event, a repeat, a logout.
    const batch = await sidecar.ingest.publishEvents({ events: [event('l-1', 'user.login'), event('l-2', 'user.login'), event('bad', 'user.login', {})] });
    expect(batch.results.map((r) => r.error?.code ?? 0)).to.deep.equal([0, 0, 3]);
    expect((await sidecar.ingest.publishEvent({ event: event('l-1', 'user.login') })).result!.duplicate).to.equal(true);
    await sidecar.ingest.publishEvent({ event: event('o-1', 'user.logout') });

    const db = sidecar.app.db;
    const settled = async (): Promise<boolean> => {
      const rows = (await db('deliveries').select('status').count({ n: '*' }).groupBy('status')) as Array<{ status: string; n: number | string }>;
      const counts = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
      return counts.succeeded === 4 && counts.failed === 1 && counts.paused === 1 && counts.pending === undefined;
    };
    await waitUntil(settled, 'ok and flaky succeeded, dead failed, gone paused', 20_000);

    // A lease that ran out: the row is due again with an old claim id still on it.
    const okDelivery = (await db('deliveries').where({ webhook_id: ids.ok }).first('id')) as { id: string };
    await db('deliveries')
      .where({ id: okDelivery.id })
      .update({ status: 'pending', claim_id: 'clm_expired', next_attempt_at: Date.now(), completed_at: null });
    await waitUntil(
      async () => ((await db('deliveries').where({ id: okDelivery.id }).first('status')) as { status: string }).status === 'succeeded',
      'the expired delivery claimed and sent again',
    );

    let scrape = await Scrape.of(sidecar.app.metricsPort);
    await waitUntil(async () => {
      scrape = await Scrape.of(sidecar!.app.metricsPort);
      // A sample taken while the expired delivery was claimed still shows it scheduled.
      return (
        scrape.value('webhooks_queue_depth', { state: 'paused' }) === 1 &&
        scrape.value('webhooks_queue_depth', { state: 'due' }) === 0 &&
        scrape.value('webhooks_queue_depth', { state: 'scheduled' }) === 0
      );
    }, 'the queue gauges to catch up');
    const webhook = (kind: string) => ({ tenant_id: TENANT, webhook_id: ids[kind]! });

    expect(scrape.value('webhooks_events_ingested_total', { event_type: 'user.login', result: 'created' })).to.equal(2);
    expect(scrape.value('webhooks_events_ingested_total', { event_type: 'user.login', result: 'duplicate' })).to.equal(1);
    expect(scrape.value('webhooks_events_ingested_total', { event_type: 'user.logout', result: 'created' })).to.equal(1);
    expect(scrape.value('webhooks_events_rejected_total', { reason: 'input' })).to.equal(1);
    expect(scrape.value('webhooks_events_rejected_total')).to.equal(1);
    expect(scrape.value('webhooks_ingest_duration_seconds_count')).to.equal(3);

    expect(scrape.value('webhooks_attempts_total', { ...webhook('ok'), outcome: 'success' })).to.equal(3);
    expect(scrape.value('webhooks_attempts_total', { ...webhook('ok'), outcome: 'failure' })).to.equal(0);
    expect(scrape.value('webhooks_attempts_total', { ...webhook('flaky'), outcome: 'failure', error_class: 'http_status' })).to.equal(2);
    expect(scrape.value('webhooks_attempts_total', { ...webhook('flaky'), outcome: 'success', error_class: 'none' })).to.equal(2);
    expect(scrape.value('webhooks_attempts_total', { ...webhook('gone'), outcome: 'failure' })).to.equal(1);
    expect(scrape.value('webhooks_attempts_total', { ...webhook('dead'), outcome: 'failure' })).to.equal(2);
    expect(scrape.value('webhooks_attempts_total')).to.equal(10);
    expect(scrape.value('webhooks_attempt_duration_seconds_count')).to.equal(10);
    expect(scrape.value('webhooks_attempt_duration_seconds_count', { outcome: 'failure' })).to.equal(5);

    expect(scrape.value('webhooks_deliveries_total', { ...webhook('ok'), outcome: 'succeeded' })).to.equal(3);
    expect(scrape.value('webhooks_deliveries_total', { ...webhook('flaky'), outcome: 'succeeded' })).to.equal(2);
    expect(scrape.value('webhooks_deliveries_total', { ...webhook('dead'), outcome: 'failed' })).to.equal(1);
    expect(scrape.has('webhooks_deliveries_total', webhook('gone')), 'a paused delivery has not ended').to.equal(false);
    expect(scrape.value('webhooks_retries_scheduled_total')).to.equal(3); // flaky 2, dead 1
    expect(scrape.value('webhooks_disabled_total', { reason: 'gone' })).to.equal(1);
    expect(scrape.value('webhooks_disabled_total')).to.equal(1);
    expect(scrape.value('webhooks_lease_expiries_total')).to.equal(1);

    expect(scrape.value('webhooks_queue_depth', { state: 'scheduled' })).to.equal(0);
    expect(scrape.value('webhooks_queue_oldest_pending_age_seconds')).to.equal(0);
    expect(scrape.value('webhooks_queue_oldest_due_age_seconds')).to.equal(0);
  });

  it('keeps each per-webhook counter to WEBHOOKS_METRICS_WEBHOOK_SERIES series, the rest counted in one overflow series', async function () {
    this.timeout(30_000);
    // Three series per counter: two webhooks by name and the overflow series; four webhooks get
    // one delivery each, so two of them can only be counted in the overflow.
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_METRICS_WEBHOOK_SERIES: '3' });
    receiver = await TestReceiver.start();
    const ids: string[] = [];
    let scrape: Scrape | undefined;
    // One webhook at a time (each narrowed to its own organization), with a scrape after each
    // delivery: a cap that only held between two scrapes would let every webhook in by name.
    for (let i = 0; i < 4; i++) {
      const org = `org-${i}`;
      const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: `w${i}`, organizationIds: [org] });
      ids.push(webhook!.id);
      await sidecar.ingest.publishEvent({ event: { ...event(`s-${i}`, 'user.login'), organizationId: org } });
      await waitUntil(async () => {
        scrape = await Scrape.of(sidecar!.app.metricsPort);
        return scrape.value('webhooks_deliveries_total') === i + 1;
      }, `delivery ${i + 1} counted`);
    }
    expect(receiver.requests, 'each event went to its one webhook').to.have.length(4);
    for (const name of ['webhooks_attempts_total', 'webhooks_deliveries_total']) {
      const samples = scrape!.samples.filter((s) => s.name === name);
      const named = samples.filter((s) => s.labels.webhook_id !== undefined);
      const overflow = samples.filter((s) => s.labels.otel_metric_overflow === 'true');
      expect(named.map((s) => s.value), `${name}: the webhooks counted by name`).to.deep.equal([1, 1]);
      expect(named.map((s) => s.labels.webhook_id).sort(), `${name}: the first two seen`).to.deep.equal(ids.slice(0, 2).sort());
      expect(named.every((s) => s.labels.tenant_id === TENANT)).to.equal(true);
      expect(overflow.map((s) => s.value), `${name}: the other two, in the overflow series`).to.deep.equal([2]);
      expect(samples).to.have.length(3);
    }
    // The limit is per-webhook counters' alone: the other series are not capped by it.
    expect(scrape!.value('webhooks_events_ingested_total', { event_type: 'user.login', result: 'created' })).to.equal(4);
    expect(scrape!.value('webhooks_attempt_duration_seconds_count', { outcome: 'success' })).to.equal(4);
  });

  it("shows the process's event loop stalls, garbage collection and heap", async function () {
    this.timeout(30_000);
    sidecar = await startSidecar(await database.create());
    const port = sidecar.app.metricsPort;
    const minorGcs = async (): Promise<number> => (await Scrape.of(port)).value('v8js_gc_duration_count', { v8js_gc_type: 'minor' });
    const gcsBefore = await minorGcs();

    // Short-lived garbage, as every call makes: the young generation is collected.
    let kept = 0;
    for (let i = 0; i < 2_000_000; i++) kept += { i, s: `x${i}` }.s.length;
    expect(kept).to.be.above(0);
    await waitUntil(async () => (await minorGcs()) > gcsBefore, 'a scavenge counted');

    // A 300 ms stall of the event loop, as a long synchronous task in the sidecar would cause.
    const until = Date.now() + 300;
    while (Date.now() < until);
    // The delay gauges cover the time since the scrape before (at least 5 samples of 10 ms):
    // keep the largest maximum seen until one scrape covers the stall.
    let worst = 0;
    let scrape: Scrape | undefined;
    await waitUntil(async () => {
      scrape = await Scrape.of(port);
      worst = Math.max(worst, scrape.value('nodejs_eventloop_delay_max'));
      return worst >= 0.3;
    }, 'the stall in the event loop delay');
    expect(worst).to.be.below(5);
    const runtime = { otel_scope_name: '@opentelemetry/instrumentation-runtime-node' };
    expect(scrape!.has('nodejs_eventloop_delay_p99', runtime)).to.equal(true);
    expect(scrape!.has('nodejs_eventloop_utilization', runtime)).to.equal(true);
    expect(scrape!.value('nodejs_eventloop_utilization')).to.be.within(0, 1);
    expect(scrape!.value('v8js_memory_heap_used'), 'heap bytes in use, all spaces').to.be.above(1_000_000);
    // Scavenges fit the finer buckets: the first of them is 0.5 ms.
    expect(scrape!.has('v8js_gc_duration_bucket', { v8js_gc_type: 'minor', le: '0.0005' })).to.equal(true);
  });

  it('shows the queue waiting: depth by state and the ages of the oldest deliveries', async function () {
    this.timeout(30_000);
    // One delivery slot, held by a receiver that does not answer; the worker claims one more
    // ahead of need (twice its slots), so the third delivery stays due.
    sidecar = await startSidecar(await database.create(), {
      WEBHOOKS_QUEUE_METRICS_INTERVAL_MS: '100',
      WEBHOOKS_DELIVERY_CONCURRENCY: '1',
    });
    const holding = await HoldingReceiver.start();
    try {
      await sidecar.admin(TENANT).createWebhook({ url: holding.url(), eventTypes: ['user.login'], description: '', organizationIds: [] });
      await sidecar.ingest.publishEvents({ events: ['q-1', 'q-2', 'q-3'].map((id) => event(id, 'user.login')) });
      await waitUntil(() => holding.heldCount === 1, 'the one slot taken');
      const now = Date.now();
      // The unclaimed delivery fell due a minute ago and was created two minutes ago: its id, a
      // ULID, says when too (the gauge reads the creation time from it).
      const unclaimed = await sidecar.app.db('deliveries').whereNull('claim_id').update({
        id: `msg_${ulid(now - 120_000)}`, next_attempt_at: now - 60_000, created_at: now - 120_000,
      });
      expect(unclaimed, 'one sending, one claimed ahead, one left').to.equal(1);

      let scrape: Scrape | undefined;
      await waitUntil(async () => {
        scrape = await Scrape.of(sidecar!.app.metricsPort);
        return scrape.value('webhooks_queue_oldest_due_age_seconds') >= 60;
      }, 'the gauges to show the waiting deliveries');
      expect(scrape!.value('webhooks_queue_depth', { state: 'due' })).to.equal(1);
      expect(scrape!.value('webhooks_queue_depth', { state: 'scheduled' }), 'the two claimed, under their leases').to.equal(2);
      expect(scrape!.value('webhooks_queue_depth', { state: 'paused' })).to.equal(0);
      expect(scrape!.value('webhooks_queue_oldest_due_age_seconds')).to.be.within(60, 70);
      expect(scrape!.value('webhooks_queue_oldest_pending_age_seconds')).to.be.within(120, 130);

      holding.answerAll(200);
      await waitUntil(async () => {
        scrape = await Scrape.of(sidecar!.app.metricsPort);
        return scrape.value('webhooks_deliveries_total', { outcome: 'succeeded' }) === 3 && scrape.value('webhooks_queue_depth') === 0;
      }, 'the queue drained');
      expect(scrape!.value('webhooks_queue_oldest_pending_age_seconds')).to.equal(0);
      expect(scrape!.value('webhooks_queue_oldest_due_age_seconds')).to.equal(0);
    } finally {
      await holding.close();
    }
    expect(await grpcHealthOf(sidecar.port)).to.equal('SERVING');
    expect((await httpGet(sidecar.app.metricsPort, '/healthz')).status).to.equal(200);
    expect((await httpGet(sidecar.app.metricsPort, '/readyz')).status).to.equal(200);
    expect((await httpGet(sidecar.app.metricsPort, '/nothing')).status).to.equal(404);
  });
});
