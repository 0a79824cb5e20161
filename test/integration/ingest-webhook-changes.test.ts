/**
 * A DeleteWebhook or an UpdateWebhook that commits while an ingest transaction is between its read
 * of the webhooks and its COMMIT. Ingest's read locks the webhooks in share mode on MySQL
 * (src/ingest/subscriptions.ts), so the admin's change waits for that COMMIT and then applies to
 * what it wrote. With a plain read, the change committed first, and ingest then wrote deliveries
 * for the webhook as it had been: a delivery row for a deleted webhook, or a pending delivery for
 * a disabled one.
 *
 * MySQL only: SQLite runs one write transaction at a time, so there the two cannot interleave.
 * The ingest transaction is held between its read and its first INSERT by another connection's
 * lock on the gap where its event row goes.
 */
import { expect } from 'chai';
import type { Knex } from 'knex';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { EventCatalog } from '../../src/ingest/catalog/catalog';
import { GroupCommitter } from '../../src/ingest/group-commit';
import { Ingestor, type Outcome } from '../../src/ingest/ingestor';
import { WebhookStore } from '../../src/management/webhook-store';
import { forEachDatabase } from '../support/databases';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-a';
const login = (id: string): Event => ({
  id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
});

forEachDatabase('ingest against a webhook changed meanwhile', (database) => {
  if (database.name !== 'mysql') return;
  let db: Db | undefined;
  let blocker: Knex.Transaction | undefined;

  afterEach(async () => {
    await blocker?.rollback().catch(() => undefined);
    blocker = undefined;
    await db?.destroy();
    db = undefined;
  });

  async function setUp(): Promise<Db> {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    await db('webhooks').insert({
      id: 'wh_1', tenant_id: TENANT, url: 'https://hooks.example.com/1', description: '', event_types: '["user.login"]',
      organization_ids: null, enabled: true, secret_sealed: 'sealed', created_at: 1, updated_at: 1,
    });
    await db('webhook_stats').insert({ webhook_id: 'wh_1', tenant_id: TENANT });
    return db;
  }

  /**
   * Statements running on this test's database, other than this one: here, ones waiting for a
   * lock. (information_schema.innodb_trx did not list MariaDB's waiting prepared INSERT.)
   */
  async function running(db: Db): Promise<number> {
    const [rows] = (await db.raw(
      'SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND info IS NOT NULL AND id <> CONNECTION_ID()',
    )) as [Array<{ n: number | string }>];
    return Number(rows[0]!.n);
  }

  /**
   * Starts publishing `eventId` with its INSERT held by a gap lock, runs `change` meanwhile, and
   * lets the publish go on once `change` has either finished or is waiting for a lock. Returns
   * the publish's outcome, and whether the change had to wait for the ingest transaction.
   */
  async function publishAcross(db: Db, eventId: string, change: () => Promise<unknown>): Promise<{ outcome: Outcome; changeWaited: boolean }> {
    blocker = await db.transaction();
    await blocker.raw('SELECT id FROM events WHERE tenant_id = ? AND id = ? FOR UPDATE', [TENANT, eventId]);
    const ingestor = new Ingestor({
      committer: new GroupCommitter(db, 100, 1),
      rules: { catalog: new EventCatalog(), maxEventBytes: 65_536 },
      onCommitted: () => undefined,
    });
    let settled: Outcome[] | undefined;
    const published = ingestor.publish([login(eventId)], () => 'event').then((outcomes) => (settled = outcomes));
    await waitUntil(async () => settled !== undefined || (await running(db)) === 1, 'the ingest transaction waiting for the gap lock', 30_000);
    expect(settled, 'the publish ended before its INSERT').to.equal(undefined);
    let changed = false;
    const changing = change().finally(() => (changed = true));
    await waitUntil(async () => changed || (await running(db)) === 2, 'the change to finish or to wait', 30_000);
    const changeWaited = !changed;
    await blocker.rollback();
    blocker = undefined;
    const [outcome] = await published;
    await changing;
    return { outcome: outcome!, changeWaited };
  }

  it('a webhook deleted while an event is being stored leaves no delivery behind', async () => {
    const db = await setUp();
    const store = new WebhookStore(db);
    const { outcome, changeWaited } = await publishAcross(db, 'evt-1', () => store.delete(TENANT, 'wh_1'));
    expect(outcome.error, 'the publish outcome').to.equal(undefined);
    expect(outcome.ok!.deliveryCount, 'fanned out before the delete').to.equal(1);
    expect(await db('deliveries').select('webhook_id', 'status'), 'deliveries of the deleted webhook').to.deep.equal([]);
    expect(await db('webhooks').count({ n: '*' }).first()).to.deep.include({ n: 0 });
    expect(changeWaited, 'the delete waited for the ingest transaction').to.equal(true);
  });

  it('a webhook disabled while an event is being stored gets its delivery paused', async () => {
    const db = await setUp();
    const store = new WebhookStore(db);
    const { outcome, changeWaited } = await publishAcross(db, 'evt-2', () =>
      store.update(TENANT, 'wh_1', { enabled: false, disabledReason: 'by the admin' }, { now: Date.now(), discardPaused: false }),
    );
    expect(outcome.error, 'the publish outcome').to.equal(undefined);
    expect(await db('deliveries').select('webhook_id', 'status')).to.deep.equal([{ webhook_id: 'wh_1', status: 'paused' }]);
    expect(changeWaited, 'the update waited for the ingest transaction').to.equal(true);
  });
});
