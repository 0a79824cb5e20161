/**
 * A DeleteWebhook that commits while a SendTestEvent is under way. SendTestEvent checked the
 * webhook with a plain read before its transaction, so a delete could commit between the check
 * and the INSERT: the test delivery outlived its webhook, and was sent after the delete had
 * answered OK. Now the check is a share-locked read inside the transaction that inserts.
 *
 * MySQL only: SQLite runs one write transaction at a time, so there the two cannot interleave.
 * One side is held mid-transaction by another connection's lock, and the test watches
 * information_schema.processlist to see which statements wait, as ingest-webhook-changes does.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { NotFoundError } from '../../src/errors';
import { EventCatalog } from '../../src/ingest/catalog/catalog';
import { DeliveryHistory } from '../../src/management/delivery-history';
import { Redelivery } from '../../src/management/redelivery';
import { WebhookStore } from '../../src/management/webhook-store';
import { WebhookManager } from '../../src/management/webhooks';
import { AllowedRanges } from '../../src/security/destination';
import { SecretBox } from '../../src/security/secret-box';
import { forEachDatabase } from '../support/databases';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';

forEachDatabase('SendTestEvent against a webhook deleted meanwhile', (database) => {
  if (database.name !== 'mysql') return;
  let db: Db | undefined;
  let blocker: Knex.Transaction | undefined;

  afterEach(async () => {
    await blocker?.rollback().catch(() => undefined);
    blocker = undefined;
    await db?.destroy();
    db = undefined;
  });

  async function setUp(): Promise<{ db: Db; webhooks: WebhookManager; redelivery: Redelivery }> {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    await db('webhooks').insert({
      id: 'wh_1', tenant_id: TENANT, url: 'https://hooks.example.com/1', description: '', event_types: '["user.login"]',
      organization_ids: null, enabled: true, secret_sealed: 'sealed', created_at: 1, updated_at: 1,
    });
    await db('webhook_stats').insert({ webhook_id: 'wh_1', tenant_id: TENANT });
    const rules = { catalog: new EventCatalog(), allowedCidrs: AllowedRanges.parse('') };
    const webhooks = new WebhookManager(new WebhookStore(db), new SecretBox([randomBytes(32)]), rules, {
      secretOverlapMs: 0,
      onDeliveriesDue: () => undefined,
    });
    const redelivery = new Redelivery(db, webhooks, new DeliveryHistory(db), () => undefined, 65_536);
    return { db, webhooks, redelivery };
  }

  /** Statements on this test's database, other than this one, still running: here, ones waiting for a lock. */
  async function running(db: Db): Promise<number> {
    const [rows] = (await db.raw(
      'SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info IS NOT NULL AND id <> CONNECTION_ID()',
    )) as [Array<{ n: number | string }>];
    return Number(rows[0]!.n);
  }

  /** Runs `first` until it waits for the blocker's lock, then `second` until it ends or waits too; then lets both go on. */
  async function across(db: Db, first: () => Promise<unknown>, second: () => Promise<unknown>) {
    let firstDone = false;
    const firstRun = settle(first()).finally(() => (firstDone = true));
    await waitUntil(async () => firstDone || (await running(db)) === 1, 'the first call to wait for the blocker', 30_000);
    expect(firstDone, 'the first call ended before reaching the blocker').to.equal(false);
    let secondDone = false;
    const secondRun = settle(second()).finally(() => (secondDone = true));
    await waitUntil(async () => secondDone || (await running(db)) === 2, 'the second call to end or to wait', 30_000);
    const secondWaited = !secondDone;
    await blocker!.rollback();
    blocker = undefined;
    return { first: await firstRun, second: await secondRun, secondWaited };
  }

  it('a delete that comes while the test delivery is being written waits, then deletes it', async () => {
    const { db, webhooks, redelivery } = await setUp();
    // Holds SendTestEvent's INSERT into events: the lock on the gap at the end of the tenant's events.
    blocker = await db.transaction();
    await blocker.raw('SELECT id FROM events WHERE tenant_id = ? FOR UPDATE', [TENANT]);
    const outcome = await across(
      db,
      () => redelivery.sendTest(TENANT, 'wh_1', undefined),
      () => webhooks.delete(TENANT, 'wh_1'),
    );
    expect(outcome.second.error, 'the delete').to.equal(undefined);
    expect(await db('deliveries').select('id', 'webhook_id'), 'deliveries of the deleted webhook').to.deep.equal([]);
    expect(outcome.secondWaited, 'the delete waited for the SendTestEvent transaction').to.equal(true);
    // It committed before the delete; its answer is the delivery or, read after the delete, NOT_FOUND.
    if (outcome.first.error !== undefined) expect(outcome.first.error).to.be.instanceOf(NotFoundError);
  });

  it('a SendTestEvent that comes while the webhook is being deleted answers NOT_FOUND and writes nothing', async () => {
    const { db, webhooks, redelivery } = await setUp();
    // Holds DeleteWebhook after it deleted the webhook row, before it deletes the counters.
    blocker = await db.transaction();
    await blocker.raw('SELECT webhook_id FROM webhook_stats WHERE webhook_id = ? FOR UPDATE', ['wh_1']);
    const outcome = await across(
      db,
      () => webhooks.delete(TENANT, 'wh_1'),
      () => redelivery.sendTest(TENANT, 'wh_1', undefined),
    );
    expect(outcome.first.error, 'the delete').to.equal(undefined);
    expect(await db('deliveries').select('id', 'webhook_id'), 'deliveries of the deleted webhook').to.deep.equal([]);
    expect(await db('events').select('id'), 'test events stored').to.deep.equal([]);
    expect(outcome.second.error, 'the SendTestEvent').to.be.instanceOf(NotFoundError);
    expect(outcome.second.error!.message).to.match(/webhook "wh_1" not found/);
  });
});

async function settle(promise: Promise<unknown>): Promise<{ error?: Error }> {
  try {
    await promise;
    return {};
  } catch (err) {
    return { error: err as Error };
  }
}
