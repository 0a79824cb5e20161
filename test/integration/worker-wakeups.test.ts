/**
 * The delivery worker's own wake-ups, with its poll a minute away: due work that appears while
 * the worker is idle but for one claim must be claimed when that claim ends, not at the poll.
 * Under load a claim's round trips can stretch past the moment that work appears; each case
 * below puts that moment inside the claim on purpose, at the response to its query for due rows.
 * (The worker is built here, on a real database, so the test can act at that moment.)
 */
import { expect } from 'chai';
import { connect, type Db } from '../../src/db/connect';
import { PROCESS_CLOCK } from '../../src/db/db-clock';
import { HttpSender } from '../../src/delivery/http-sender';
import { DeliveryWorker } from '../../src/delivery/worker';
import { deliveryRow, insertEvents } from '../../src/ingest/outbox-rows';
import { AttemptRecorder } from '../../src/outbox/recorder';
import { SecretBox } from '../../src/security/secret-box';
import { createLogger } from '../../src/telemetry/logger';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar } from '../support/sidecar';

/** The worker's claim query (src/outbox/claim.ts), as knex reports it on either database. */
const CLAIM_QUERY = 'select `id`, `webhook_id`, `tenant_id`, `claim_id` from `deliveries`';

forEachDatabase('delivery worker: wake-ups during a claim', (database) => {
  let db: Db | undefined;
  let worker: DeliveryWorker | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await worker?.stop(1_000);
    await db?.destroy();
    await receiver?.close();
    worker = db = receiver = undefined;
  });

  /**
   * A migrated database with one webhook at a receiver (made by a sidecar, then stopped), and a
   * worker on it, not started.
   */
  async function setUp(): Promise<{ worker: DeliveryWorker; requestTimeoutMs: number; due: (count: number, at: number) => Promise<void> }> {
    receiver = await TestReceiver.start();
    const sidecar = await startSidecar(await database.create(), { WEBHOOKS_POLL_INTERVAL_MS: '60000' });
    const config = sidecar.config;
    let webhookId: string;
    try {
      const { webhook } = await sidecar.admin('tenant-a').createWebhook({
        url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [],
      });
      webhookId = webhook!.id;
    } finally {
      await sidecar.stop();
    }
    const conn = (db = connect(config.db));
    const sender = new HttpSender({ requestTimeoutMs: config.requestTimeoutMs, allowedCidrs: config.allowedCidrs });
    worker = new DeliveryWorker(
      { db: conn, sender, secrets: new SecretBox(config.encryptionKeys), logger: createLogger('silent'), clock: PROCESS_CLOCK, recorder: new AttemptRecorder(conn, config) },
      { ...config, concurrency: 2, maxInFlightPerWebhook: 1, pollIntervalMs: 60_000 },
    );
    /** `count` deliveries to the webhook that fall due at `at`. */
    const due = async (count: number, at: number): Promise<void> => {
      const events = Array.from({ length: count }, (_, i) => ({
        tenantId: 'tenant-a', id: `evt-${i}`, type: 'user.login', organizationId: null, occurredAt: at, payload: '{}',
      }));
      await insertEvents(conn, events, 1, at);
      await conn('deliveries').insert(events.map((e) => deliveryRow(e, webhookId, at)));
    };
    return { worker, requestTimeoutMs: config.requestTimeoutMs, due };
  }

  /** Runs `act` once, at the response to the worker's first query for due rows; returns its rows. */
  function atFirstClaim(act: () => void): () => unknown[] | undefined {
    let found: unknown[] | undefined;
    db!.on('query-response', (rows: unknown[], query: { sql: string }) => {
      if (found !== undefined || !query.sql.startsWith(CLAIM_QUERY)) return;
      found = rows;
      act();
    });
    return () => found;
  }

  /** Holds the process (and so the claim under way) until the clock passes `at`. */
  function busyUntil(at: number): void {
    while (Date.now() <= at) {
      // Blocking on purpose: the claim must not end meanwhile.
    }
  }

  it('claims again when ingest announced work while a claim that found nothing was under way', async function () {
    this.timeout(60_000);
    const { worker, due } = await setUp();
    // The rows fall due just after the first claim has looked for due rows: as if ingest had
    // committed them then, and woken the worker (its onCommitted) before that claim ended.
    const dueAt = Date.now() + 1_000;
    await due(3, dueAt);
    const firstClaim = atFirstClaim(() => {
      busyUntil(dueAt);
      worker.wake();
    });
    worker.start();
    await receiver!.waitForRequests(3, 15_000);
    expect(firstClaim()).to.deep.equal([]);
  });

  it('claims again the deliveries it gave back for want of time on their leases', async function () {
    this.timeout(60_000);
    const { worker, requestTimeoutMs, due } = await setUp();
    await due(2, Date.now() - 1_000);
    // The claim outlasts the time its deliveries may wait in the queue (half a request timeout:
    // src/delivery/lease.ts), so they come back late and are given back, due again at once.
    const firstClaim = atFirstClaim(() => busyUntil(Date.now() + requestTimeoutMs / 2 + 200));
    worker.start();
    await receiver!.waitForRequests(2, 15_000);
    expect(firstClaim()).to.have.length(2);
  });
});
