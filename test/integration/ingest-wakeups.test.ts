/**
 * Ingest wakes the local delivery worker only for deliveries a claim must find: written due and
 * not handed to the worker. A paused delivery (its webhook is disabled) waits for its webhook,
 * and a handed-off one is the worker's already. Until the sixth session every commit that wrote
 * any delivery woke the worker, and each wake-up cost a claim transaction that found nothing:
 * the ingest bench's sidecar spent 750-850 µs of CPU per event at 1,000 events/s (BENCHMARKS.md).
 */
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { EventCatalog } from '../../src/ingest/catalog/catalog';
import type { Handoff } from '../../src/ingest/event-store';
import { GroupCommitter } from '../../src/ingest/group-commit';
import { Ingestor } from '../../src/ingest/ingestor';
import { forEachDatabase } from '../support/databases';

const login = (id: string, tenantId: string): Event => ({
  id, tenantId, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' },
});

/** The worker's side of a handoff: takes up to `places` deliveries. */
function handoff(places: number): Handoff & { taken: number } {
  return {
    claimId: 'claim-test',
    leaseExpiresAt: Date.now() + 60_000,
    taken: 0,
    take(): boolean {
      if (this.taken >= places) return false;
      this.taken += 1;
      return true;
    },
    release(): void {
      this.taken = 0;
    },
    deliver(): void {},
  };
}

forEachDatabase('ingest: worker wake-ups', (database) => {
  let db: Db | undefined;

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  async function setUp(): Promise<Db> {
    db = connect(parseDbUrl(await database.create()));
    await migrateLatest(db);
    const webhook = (id: string, tenantId: string, enabled: boolean) => ({
      id, tenant_id: tenantId, url: `https://hooks.example.com/${id}`, description: '', event_types: '["user.login"]',
      organization_ids: null, enabled, secret_sealed: 'sealed', created_at: 1, updated_at: 1,
    });
    await db('webhooks').insert([
      webhook('wh_on_1', 'tenant-on', true),
      webhook('wh_on_2', 'tenant-on', true),
      webhook('wh_off', 'tenant-off', false),
    ]);
    return db;
  }

  /** Publishes one event and says whether the worker was woken, and how many deliveries were written. */
  async function publish(db: Db, event: Event, offer?: Handoff): Promise<{ woken: boolean; deliveries: number }> {
    let woken = false;
    const ingestor = new Ingestor({
      committer: new GroupCommitter(db, 100, 1, Date.now, () => offer),
      rules: { catalog: new EventCatalog(), maxEventBytes: 65_536 },
      onCommitted: () => (woken = true),
    });
    const [outcome] = await ingestor.publish([event], () => 'event');
    expect(outcome!.error, 'the publish outcome').to.equal(undefined);
    return { woken, deliveries: outcome!.ok!.deliveryCount };
  }

  it('wakes the worker for deliveries written due, not for paused ones, handed-off ones or a duplicate', async () => {
    const db = await setUp();
    expect(await publish(db, login('evt-1', 'tenant-on'))).to.deep.equal({ woken: true, deliveries: 2 });
    expect(await publish(db, login('evt-2', 'tenant-off')), 'paused').to.deep.equal({ woken: false, deliveries: 1 });
    expect(await publish(db, login('evt-3', 'tenant-on'), handoff(2)), 'both handed off').to.deep.equal({ woken: false, deliveries: 2 });
    expect(await publish(db, login('evt-4', 'tenant-on'), handoff(1)), 'one handed off').to.deep.equal({ woken: true, deliveries: 2 });
    expect(await publish(db, login('evt-1', 'tenant-on')), 'a repeat').to.deep.equal({ woken: false, deliveries: 2 });
    // What each wrote: the claim finds exactly the rows it was woken for.
    const rows = (await db('deliveries').select('event_id', 'status', 'claim_id').orderBy(['event_id', 'claim_id'])) as Array<Record<string, unknown>>;
    const due = rows.filter((r) => r.status === 'pending' && r.claim_id === null).map((r) => r.event_id);
    expect(due).to.deep.equal(['evt-1', 'evt-1', 'evt-4']);
    expect(rows.filter((r) => r.status === 'paused').map((r) => r.event_id)).to.deep.equal(['evt-2']);
  });
});
