/**
 * A version running on the schema of a newer one, on each database: what `helm rollback` does,
 * and what an older pod that restarts during a rolling update does. A newer version's migration
 * (a row in knex_migrations and a column this version does not know) is applied under it; the
 * sidecar still starts, says so in its log, and ingests and delivers signed events, and the
 * Helm hook's migrate command has nothing to do. A migration this version does not know that
 * sorts among its own is no newer version's: that database is refused, as knex refuses it.
 */
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { createLogger } from '../../src/telemetry/logger';
import { runMigrateHook } from '../support/cli';
import { forEachDatabase } from '../support/databases';
import { MemoryLog } from '../support/memory-log';
import { TestReceiver } from '../support/receiver';
import { startSidecar, testEnv, type TestSidecar } from '../support/sidecar';

const TENANT = 'tenant-newer-schema';
/** Sorts after every migration this version has, as the next version's would. */
const NEXT_VERSIONS = '29991231000000_a_newer_version.js';
const STRAY = '20261127000000_initial_copy.js';

forEachDatabase('running on a newer version\'s schema', (database) => {
  let db: Db | undefined;
  let sidecar: TestSidecar | undefined;
  let receiver: TestReceiver | undefined;

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await receiver?.close();
    receiver = undefined;
    await db?.destroy();
    db = undefined;
  });

  /** A migrated database with `name` applied on top, as if by another version. */
  async function migratedWith(name: string): Promise<string> {
    const url = await database.create();
    db = connect(parseDbUrl(url));
    await migrateLatest(db);
    // What a newer version's migration may do: add a column that this version never names.
    await db.schema.alterTable('deliveries', (t) => t.string('added_by_a_newer_version', 20).nullable());
    await db('knex_migrations').insert({ name, batch: 99, migration_time: new Date() });
    return url;
  }

  it('starts, warns, and ingests and delivers signed events', async () => {
    const url = await migratedWith(NEXT_VERSIONS);
    const log = new MemoryLog();
    sidecar = await startSidecar(url, {}, { logger: createLogger('info', log) });
    const warnings = log.messages('the database was migrated by a newer version');
    expect(warnings).to.have.length(1);
    expect(warnings[0]!.newer).to.deep.equal([NEXT_VERSIONS]);

    receiver = await TestReceiver.start();
    const { secret } = await sidecar.admin(TENANT).createWebhook({
      url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [],
    });
    const { result } = await sidecar.ingest.publishEvent({
      event: { id: 'evt-rollback', tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } },
    });
    expect(result).to.include({ eventId: 'evt-rollback', deliveryCount: 1, duplicate: false });
    const [request] = await receiver.waitForRequests(1);
    const body = new StandardWebhook(secret).verify(request!.body, {
      'webhook-id': request!.headers['webhook-id'] as string,
      'webhook-timestamp': request!.headers['webhook-timestamp'] as string,
      'webhook-signature': request!.headers['webhook-signature'] as string,
    }) as { type: string; data: unknown };
    expect(body).to.deep.include({ type: 'user.login', data: { user_id: 'u-1' } });
    // Nothing was undone or applied: the newer version's migration and column are still there.
    expect(await db!('knex_migrations').where({ name: NEXT_VERSIONS }).pluck('batch')).to.deep.equal([99]);
    expect(await db!.schema.hasColumn('deliveries', 'added_by_a_newer_version')).to.equal(true);
  });

  it('the Helm hook\'s migrate command has nothing to do, and names the newer migration', async function () {
    this.timeout(60_000);
    const { stdout } = await runMigrateHook(testEnv(await migratedWith(NEXT_VERSIONS)));
    expect(stdout).to.equal(
      `Already up to date.\nThe database also has migrations of a newer version, which this one runs without: ${NEXT_VERSIONS}\n`,
    );
  });

  it('refuses a database with an unknown migration among its own, naming it', async () => {
    const url = await migratedWith(STRAY);
    let error: Error | undefined;
    try {
      sidecar = await startSidecar(url);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.equal(`The migration directory is corrupt, the following files are missing: ${STRAY}`);
  });
});
