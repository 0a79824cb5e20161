/**
 * SIGTERM while a receiver holds every request open: the process refuses new calls, waits
 * WEBHOOKS_SHUTDOWN_GRACE_MS (500 ms) for the attempts in flight, cuts them, gives their leases
 * back and exits 0, far sooner than the 10 s request timeout. The next start sends them at once,
 * where an expired lease (2 × 10 s + 1 s = 21 s) would have held them back.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Db } from '../../src/db/connect';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { forEachDatabase } from '../support/databases';
import { ingestClient, metadataOf, promised, rejectionOf } from '../support/grpc-clients';
import {
  deliveryStatusCounts,
  HoldingReceiver,
  openDb,
  processEnv,
  startProcessSidecar,
  stopProcessSidecars,
} from '../support/process-sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-shutdown';
const EVENTS = 5;
const GRACE_MS = 500;
const REQUEST_TIMEOUT_MS = 10_000;
/** Well under the request timeout: the grace, the lease release and closing the pools. */
const EXIT_DEADLINE_MS = 5_000;
/** Well under the 21 s lease a killed process would have left behind. */
const REDELIVERY_DEADLINE_MS = 3_000;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: `u-${id}` } };
}

forEachDatabase('e2e: graceful shutdown on SIGTERM', (database) => {
  let receiver: HoldingReceiver;
  let db: Db | undefined;

  afterEach(async () => {
    await stopProcessSidecars();
    await receiver?.close();
    await db?.destroy();
    db = undefined;
  });

  it('refuses new calls, releases the leases of cut attempts, exits 0; the next start sends them at once', async function () {
    this.timeout(90_000);
    const dbUrl = await database.create();
    receiver = await HoldingReceiver.start();
    const env = processEnv(dbUrl, {
      WEBHOOKS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      WEBHOOKS_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    const first = await startProcessSidecar(env);
    await first.admin(TENANT).createWebhook({ url: receiver.url(), eventTypes: ['user.login'], description: 'held', organizationIds: [] });
    const { results } = await first.ingest.publishEvents({ events: Array.from({ length: EVENTS }, (_, i) => login(`evt-${i}`)) });
    expect(results.map((r) => r.deliveryCount)).to.deep.equal(Array(EVENTS).fill(1));
    await waitUntil(() => receiver.heldCount === EVENTS, `${EVENTS} requests held open`, 10_000);
    const heldIds = receiver.heldNow().map((r) => r.webhookId).sort();

    const termAt = Date.now();
    first.kill('SIGTERM');
    await first.waitFor(() => first.logged('shutting down').length > 0, '"shutting down"', 5_000);
    // New calls, on the open channel and on a new connection, while attempts are still held.
    const onOpenChannel = await rejectionOf(first.ingest.publishEvent({ event: login('after-term') }));
    const fresh = ingestClient(first.port);
    const onNewChannel = await rejectionOf(
      promised(fresh, metadataOf(env.WEBHOOKS_INGEST_TOKEN)).publishEvent({ event: login('after-term-2') }),
    );
    fresh.close();
    const stillStopping = first.running;
    expect(onOpenChannel.code, onOpenChannel.message).to.equal(grpc.status.UNAVAILABLE);
    expect(onNewChannel.code, onNewChannel.message).to.equal(grpc.status.UNAVAILABLE);
    expect(stillStopping, 'the calls were refused by a process still stopping, not by a dead one').to.equal(true);

    const exit = await first.waitForExit(EXIT_DEADLINE_MS);
    const stoppedIn = Date.now() - termAt;
    first.closeClients();
    expect(exit, first.stderr).to.deep.equal({ code: 0, signal: null });
    expect(stoppedIn, 'the grace for attempts in flight was given').to.be.at.least(GRACE_MS);
    expect(first.logged('webhooks sidecar stopped')).to.have.length(1);
    expect(first.logged('releasing leases failed; they expire on their own')).to.have.length(0);

    // The cut attempts gave their leases back: due now, claimed by no one.
    db = openDb(dbUrl);
    const rows = (await db('deliveries').select('id', 'status', 'claim_id', 'next_attempt_at')) as Array<{
      id: string; status: string; claim_id: string | null; next_attempt_at: number | string;
    }>;
    expect(rows.map((r) => r.id).sort()).to.deep.equal(heldIds);
    for (const row of rows) {
      expect(row, row.id).to.include({ status: 'pending', claim_id: null });
      expect(Number(row.next_attempt_at), `${row.id} due again`).to.be.at.most(Date.now());
    }
    expect(await first.exited).to.deep.equal(exit);
    await waitUntil(() => receiver.heldCount === 0, 'the held requests to be cut by the stopped child', 5_000);

    receiver.answerAll(200);
    const before = receiver.requests.length;
    const second = await startProcessSidecar(env);
    const startedAt = Date.now();
    await waitUntil(
      () => receiver.requests.slice(before).filter((r) => r.status === 200).length >= EVENTS,
      `the ${EVENTS} released deliveries within ${REDELIVERY_DEADLINE_MS} ms of the restart`,
      REDELIVERY_DEADLINE_MS,
    );
    const open = db;
    await waitUntil(async () => ((await deliveryStatusCounts(open)).pending ?? 0) === 0, 'no delivery left pending', 10_000);
    const resent = receiver.requests.slice(before);
    expect(resent.map((r) => r.webhookId).sort(), 'the same webhook-ids, once each').to.deep.equal(heldIds);
    expect(Math.max(...resent.map((r) => r.at)) - startedAt).to.be.below(REDELIVERY_DEADLINE_MS);
    expect(await deliveryStatusCounts(open)).to.deep.equal({ succeeded: EVENTS });

    second.closeClients();
    second.kill('SIGTERM');
    expect(await second.waitForExit(EXIT_DEADLINE_MS), second.stderr).to.deep.equal({ code: 0, signal: null });
  });

  it('is not held up by an idle StreamEvents stream the identity core keeps open, which it ends UNAVAILABLE', async function () {
    this.timeout(60_000);
    receiver = await HoldingReceiver.start();
    const env = processEnv(await database.create(), {
      WEBHOOKS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      WEBHOOKS_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    const sidecar = await startProcessSidecar(env);
    const client = ingestClient(sidecar.port);
    try {
      const stream = client.streamEvents(metadataOf(env.WEBHOOKS_INGEST_TOKEN));
      const ended = new Promise<string>((resolve) => {
        stream.on('error', (err: grpc.ServiceError) => resolve(`error ${err.code}`));
        stream.on('end', () => resolve('end'));
      });
      const acked = new Promise((resolve) => stream.once('data', resolve));
      stream.write({ event: login('streamed') });
      await acked; // the stream is open and idle from here on

      const termAt = Date.now();
      sidecar.kill('SIGTERM');
      const exit = await sidecar.waitForExit(EXIT_DEADLINE_MS);
      expect(exit, sidecar.stderr).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - termAt).to.be.below(EXIT_DEADLINE_MS);
      // Not OK: the core may have sent events the stopping process never read; it sends them again.
      expect(await ended).to.equal(`error ${grpc.status.UNAVAILABLE}`);
    } finally {
      client.close();
    }
  });
});
