/**
 * The retention purge against deliveries that are sent again, on each database, with a real
 * sidecar, receiver and RetryDelivery calls:
 * - a delivery the purge chose while it was failed, then made pending by RetryDelivery before
 *   the purge deleted it, stays, with its attempts, and is sent (the purge re-reads it in the
 *   DELETE). On MySQL the RetryDelivery transaction is held open by a lock another session
 *   holds, so the purge's whole purgeOnce waits on it: no timing involved.
 * - a delivery still pending past the retention period keeps its earlier attempts.
 */
import { expect } from 'chai';
import type { Knex } from 'knex';
import type { Env } from '../../src/config/config';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, isMysql, type Db } from '../../src/db/connect';
import { DeliveryStatus } from '../../src/grpc/generated/webhooks/v1/management';
import { finishedDeliveries, purgeDeliveries, purgeOnce } from '../../src/outbox/retention';
import { forEachDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-retention-races';
const HOUR_MS = 3_600_000;

forEachDatabase('retention against deliveries sent again', (database) => {
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver | undefined;
  const dbs: Db[] = [];

  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.destroy();
    await sidecar?.stop();
    sidecar = undefined;
    await receiver?.close();
    receiver = undefined;
  });

  /** A sidecar whose receiver answers 500 to the first request and 200 after; the webhook's id. */
  async function start(env: Env): Promise<{ url: string; webhookId: string }> {
    const url = await database.create();
    sidecar = await startSidecar(url, env);
    receiver = await TestReceiver.start();
    receiver.respondWith((_req, i) => ({ status: i === 0 ? 500 : 200 }));
    const { webhook } = await admin().createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    return { url, webhookId: webhook!.id };
  }

  const admin = () => sidecar!.admin(TENANT);
  const db = () => sidecar!.app.db;

  /** Publishes one event and waits for its delivery's first attempt; the delivery's id. */
  async function firstAttempted(id: string): Promise<string> {
    await sidecar!.ingest.publishEvent({
      event: { id, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
    });
    await waitUntil(async () => (await db()('delivery_attempts').count({ n: '*' }))[0]!.n == 1, 'the first attempt');
    return (await db()('deliveries').first('id')).id as string;
  }

  async function sentAgain(deliveryId: string): Promise<void> {
    await waitUntil(
      async () => (await admin().getDelivery({ id: deliveryId })).delivery!.status === DeliveryStatus.DELIVERY_STATUS_SUCCEEDED,
      'the delivery sent again to succeed',
    );
    expect(await db()('delivery_attempts').where({ delivery_id: deliveryId }).pluck('status_code')).to.have.members([500, 200]);
  }

  it('keeps a delivery made pending after the purge chose it, with its attempts', async () => {
    await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const id = await firstAttempted('evt-chosen');
    await waitUntil(async () => (await db()('deliveries').where({ id }).first('status')).status === 'failed', 'the delivery to fail');
    const cutoff = Date.now() + HOUR_MS;
    expect(await finishedDeliveries(db(), cutoff)).to.deep.equal([id]);

    const retried = await admin().retryDelivery({ id });
    expect(retried.delivery!.status).to.equal(DeliveryStatus.DELIVERY_STATUS_PENDING);
    expect(await purgeDeliveries(db(), [id], cutoff)).to.equal(0);
    await sentAgain(id);
  });

  it('keeps the attempts of a delivery still pending past the retention period', async () => {
    // The retry falls due in an hour: until then the delivery is pending with one old attempt.
    await start({ WEBHOOKS_MAX_RETRIES: '1', WEBHOOKS_RETRY_BASE_MS: String(HOUR_MS) });
    const id = await firstAttempted('evt-pending');
    expect((await db()('deliveries').where({ id }).first('status')).status).to.equal('pending');

    for (let n = -1; n !== 0; n = await purgeOnce(db(), Date.now() + HOUR_MS / 2));
    expect(await db()('delivery_attempts').where({ delivery_id: id }).pluck('status_code')).to.deep.equal([500]);
    expect((await admin().getDelivery({ id })).attempts.map((a) => a.statusCode)).to.deep.equal([500]);
  });

  // Not registered on SQLite, which has one writer: no purge waits on a row there.
  const onMysql = database.name === 'mysql' ? it : (): void => undefined;
  onMysql('a purge waiting on a RetryDelivery in progress leaves the delivery it made pending (MySQL)', async function () {
    const { url, webhookId } = await start({ WEBHOOKS_MAX_RETRIES: '0' });
    const id = await firstAttempted('evt-locked');
    await waitUntil(async () => (await db()('deliveries').where({ id }).first('status')).status === 'failed', 'the delivery to fail');
    const other = connect(parseDbUrl(url));
    const purger = connect(parseDbUrl(url));
    dbs.push(other, purger);
    expect(isMysql(other)).to.equal(true);

    // Another session holds the webhook's counters row: RetryDelivery makes the delivery pending,
    // then waits to count it, its transaction open and the delivery's row locked.
    const holder = await other.transaction();
    let retried: Promise<unknown> | undefined;
    let purge: Promise<number> | undefined;
    try {
      await holder('webhook_stats').where({ webhook_id: webhookId }).forUpdate().select('webhook_id');
      retried = admin().retryDelivery({ id });
      await waitForLockWait(other, 'update `webhook_stats`%');
      // The purge read the delivery as failed (the retry is not committed) and waits on its row.
      purge = purgeOnce(purger, Date.now() + HOUR_MS);
      await waitForLockWait(other, 'delete from `deliveries`%');
    } finally {
      await holder.commit();
    }

    expect(((await retried) as { delivery: { status: DeliveryStatus } }).delivery.status).to.equal(DeliveryStatus.DELIVERY_STATUS_PENDING);
    await purge;
    expect(await db()('deliveries').where({ id }).pluck('id')).to.deep.equal([id]);
    await sentAgain(id);
    const [stats] = (await db()('webhook_stats').where({ webhook_id: webhookId }).select('deliveries_succeeded', 'attempts')) as Array<
      Record<string, number>
    >;
    expect([Number(stats!.deliveries_succeeded), Number(stats!.attempts)]).to.deep.equal([1, 2]);
  });
});

/**
 * Until a statement of this database starting with `pattern` is in progress, waiting on a row
 * lock (MariaDB's INNODB_TRX does not list such a wait; its processlist shows the statement).
 */
async function waitForLockWait(db: Knex, pattern: string): Promise<void> {
  await waitUntil(async () => {
    const [rows] = (await db.raw(
      `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
        WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Query' AND INFO LIKE ?`,
      [pattern],
    )) as [Array<{ n: number }>];
    return Number(rows[0]!.n) > 0;
  }, `a statement like "${pattern}" to wait on a lock`);
}
