/**
 * kill -9 while a receiver holds requests open, then start again on the same database: every
 * acknowledged event is delivered at least once, duplicates carry the same webhook-id, and
 * nothing is left pending. The request timeout is 1 s, so the lease (2 × timeout + 1 s) is 3 s:
 * the deliveries the dead process had claimed fall due again 3 s after their claim.
 */
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { DeliveryStatus } from '../../src/grpc/generated/webhooks/v1/management';
import type { Db } from '../../src/db/connect';
import { forEachDatabase } from '../support/databases';
import {
  deliveryStatusCounts,
  HoldingReceiver,
  openDb,
  processEnv,
  startProcessSidecar,
  stopProcessSidecars,
  type ProcessSidecar,
} from '../support/process-sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-crash';
const PATHS = ['/a', '/b'];
const BATCH = 30;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: `u-${id}` } };
}

/** Publishes one event after another until a call fails (the process was killed). */
async function publishUntilRefused(sidecar: ProcessSidecar, acked: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      const { result } = await sidecar.ingest.publishEvent({ event: login(`late-${i}`) });
      expect(result!.error, JSON.stringify(result)).to.equal(undefined);
      acked.push(result!.eventId);
    } catch (err) {
      if ((err as { code?: number }).code === undefined) throw err; // an assertion, not the kill
      return;
    }
  }
}

forEachDatabase('e2e: crash recovery after kill -9', (database) => {
  let receiver: HoldingReceiver;
  let db: Db | undefined;

  afterEach(async () => {
    await stopProcessSidecars();
    await receiver?.close();
    await db?.destroy();
    db = undefined;
  });

  it('delivers every acknowledged event at least once, under one webhook-id each, nothing left pending', async function () {
    this.timeout(120_000);
    const dbUrl = await database.create();
    receiver = await HoldingReceiver.start();
    // One env for both starts: the same tokens and encryption key, as a restarted pod has.
    const env = processEnv(dbUrl, {
      WEBHOOKS_REQUEST_TIMEOUT_MS: '1000',
      WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: '8',
      // Held requests time out after 1 s and are retried; enough retries that none ends failed.
      WEBHOOKS_MAX_RETRIES: '20',
    });
    const first = await startProcessSidecar(env);
    for (const p of PATHS) {
      await first.admin(TENANT).createWebhook({ url: receiver.url(p), eventTypes: ['user.login'], description: p, organizationIds: [] });
    }

    const { results } = await first.ingest.publishEvents({ events: Array.from({ length: BATCH }, (_, i) => login(`early-${i}`)) });
    expect(results.filter((r) => r.error === undefined && r.deliveryCount === PATHS.length)).to.have.length(BATCH);
    const acked = results.map((r) => r.eventId);
    // 8 per webhook in flight at most, so 16 held requests means the cap is reached on both.
    await waitUntil(() => receiver.heldCount >= 2 * 8, '16 requests held open by the receiver', 20_000);

    // Keep publishing and kill in the middle of it: what was acknowledged must not be lost.
    const late: string[] = [];
    const publishing = publishUntilRefused(first, late);
    await waitUntil(() => late.length >= 3, 'three acknowledged publishes after the hold', 20_000);
    const heldAtCrash = receiver.heldNow().map((r) => r.webhookId);
    first.kill('SIGKILL');
    expect(await first.exited).to.deep.equal({ code: null, signal: 'SIGKILL' });
    await publishing;
    first.closeClients();
    acked.push(...late);

    const beforeCrash = receiver.requests.length;
    expect(heldAtCrash.length, 'requests in flight when the process died').to.be.at.least(16);
    receiver.destroySockets();
    receiver.answerAll(200);

    const second = await startProcessSidecar(env);
    const expectedPairs = acked.flatMap((eventId) => PATHS.map((p) => `${p} ${eventId}`));
    const okAfter = () => receiver.requests.slice(beforeCrash).filter((r) => r.status === 200);
    await waitUntil(
      () => {
        const got = new Set(okAfter().map((r) => `${r.path} ${r.eventId}`));
        return expectedPairs.every((k) => got.has(k));
      },
      `a 200 for each of the ${expectedPairs.length} acknowledged deliveries`,
      30_000,
    );
    db = openDb(dbUrl);
    const open = db;
    await waitUntil(
      async () => {
        const counts = await deliveryStatusCounts(open);
        return (counts.pending ?? 0) === 0 && (counts.paused ?? 0) === 0;
      },
      'no delivery left pending',
      20_000,
    );

    // One webhook-id per (webhook, event), whatever the number of times it was sent.
    const idsByPair = new Map<string, Set<string>>();
    for (const r of receiver.requests) {
      const key = `${r.path} ${r.eventId}`;
      idsByPair.set(key, (idsByPair.get(key) ?? new Set()).add(r.webhookId));
    }
    for (const [key, ids] of idsByPair) expect([...ids], `webhook-ids of ${key}`).to.have.length(1);
    const allIds = [...idsByPair.values()].map((ids) => [...ids][0]);
    expect(new Set(allIds).size, 'webhook-ids differ between deliveries').to.equal(idsByPair.size);

    // Each request cut by the crash was sent again, under the same id, and got its 200.
    const okIds = new Set(okAfter().map((r) => r.webhookId));
    for (const id of heldAtCrash) expect(okIds.has(id), `${id} delivered after the restart`).to.equal(true);

    // The webhook-id is the delivery row's id, and every row ended succeeded.
    const rows = (await open('deliveries').whereIn('event_id', acked).select('id', 'status')) as Array<{ id: string; status: string }>;
    expect(rows).to.have.length(expectedPairs.length);
    for (const row of rows) {
      expect(row.status, row.id).to.equal('succeeded');
      expect(okIds.has(row.id), `${row.id} got a 200`).to.equal(true);
    }
    const counts = await deliveryStatusCounts(open);
    expect(Object.keys(counts), JSON.stringify(counts)).to.deep.equal(['succeeded']);
    const pending = await second.admin(TENANT).listDeliveries({
      webhookId: '', status: DeliveryStatus.DELIVERY_STATUS_PENDING, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '',
    });
    expect(pending.deliveries).to.have.length(0);

    second.closeClients();
    second.kill('SIGTERM');
    expect(await second.waitForExit(15_000), second.stderr).to.deep.equal({ code: 0, signal: null });
  });
});
