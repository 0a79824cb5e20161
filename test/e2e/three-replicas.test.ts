/**
 * Scale-down on MySQL: three sidecar processes started at the same moment on a new database
 * (their migrations race; MySQL's GET_LOCK makes them take turns), events published to all
 * three, and one of them stopped with SIGTERM while deliveries flow. Every event is delivered,
 * and no delivery is sent twice while a lease on it is valid: the stopped process finishes its
 * attempts within WEBHOOKS_SHUTDOWN_GRACE_MS (the receiver answers in ~10 ms), so any second POST
 * of a webhook-id could only come from two workers holding it at once, unless the stopped process
 * cut that attempt and gave its lease back (then its log says so, and only then is a repeat allowed).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Db } from '../../src/db/connect';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { MYSQL_URL, testDatabases, type TestDatabase } from '../support/databases';
import { deliveryStatusCounts, openDb, processEnv, startProcessSidecar, stopProcessSidecars, type ProcessSidecar } from '../support/process-sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-scale-down';
const EVENTS = 1_500;
const BATCH = 50;
/** Both webhooks take every user.* event: two deliveries per event. */
const DELIVERIES = EVENTS * 2;
const GRACE_MS = 3_000;

function event(i: number): Event {
  return { id: `evt-${i}`, tenantId: TENANT, type: i % 3 === 0 ? 'user.logout' : 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: `u-${i % 89}` } };
}

/** Answers 200 after ~10 ms, so attempts are in flight when the SIGTERM comes; records each webhook-id. */
class SlowishReceiver {
  readonly ids: string[] = [];
  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<SlowishReceiver> {
    const server = http.createServer();
    const receiver = new SlowishReceiver(server);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume().on('end', () => {
        receiver.ids.push(String(req.headers['webhook-id']));
        setTimeout(() => res.writeHead(200).end(), 10);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return receiver;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const logged = (s: ProcessSidecar, msg: string): string[] => s.logged(msg).map((l) => String(l.deliveryId));

describe('e2e: three replicas on one MySQL database, one stopped with SIGTERM mid-run', function () {
  this.timeout(300_000);
  let database: TestDatabase;
  let receiver: SlowishReceiver | undefined;
  let db: Db | undefined;

  before(function () {
    if (!MYSQL_URL) this.skip(); // SQLite is one process's store (DESIGN.md, Storage)
    database = testDatabases().find((d) => d.name === 'mysql')!;
  });

  afterEach(async () => {
    await stopProcessSidecars();
    await receiver?.close();
    await db?.destroy();
  });

  after(() => database?.dropAll());

  it(`delivers all ${DELIVERIES} deliveries, none twice under a valid lease, while one of three replicas stops`, async () => {
    const dbUrl = await database.create();
    receiver = await SlowishReceiver.start();
    const env = processEnv(dbUrl, { WEBHOOKS_LOG_LEVEL: 'debug', WEBHOOKS_REQUEST_TIMEOUT_MS: '5000', WEBHOOKS_SHUTDOWN_GRACE_MS: String(GRACE_MS) });

    // The same moment, on an unmigrated database: as a Deployment's pods start.
    const started = await Promise.allSettled([startProcessSidecar(env), startProcessSidecar(env), startProcessSidecar(env)]);
    expect(started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : [])), 'replicas that failed to start').to.deep.equal([]);
    const replicas = started.map((s) => (s as PromiseFulfilledResult<ProcessSidecar>).value);
    const [a, b, c] = replicas as [ProcessSidecar, ProcessSidecar, ProcessSidecar];
    db = openDb(dbUrl);
    const migrations = (await db('knex_migrations').select('name')) as Array<{ name: string }>;
    expect(migrations.length, 'each migration applied once').to.equal(new Set(migrations.map((m) => m.name)).size);
    expect(replicas.filter((r) => r.logged('migrations applied').length > 0), 'replicas that applied migrations').to.have.length(1);

    for (const path of ['/a', '/b']) {
      await a.admin(TENANT).createWebhook({ url: receiver.url(path), eventTypes: ['user.*'], description: path, organizationIds: [] });
    }

    // Batch i goes to replica i % 3; once c is stopping, its batches go to a and b (event ids
    // make a repeated batch harmless: it answers duplicate with the original result).
    let stopping = false;
    const ingestedBy = [0, 0, 0];
    const publishShare = async (index: number): Promise<void> => {
      for (let start = index * BATCH; start < EVENTS; start += 3 * BATCH) {
        const events = Array.from({ length: Math.min(BATCH, EVENTS - start) }, (_, i) => event(start + i));
        let target = stopping && index === 2 ? (start / BATCH) % 2 : index;
        for (;;) {
          try {
            const { results } = await replicas[target]!.ingest.publishEvents({ events });
            for (const r of results) expect(r.error, `${r.eventId}: ${JSON.stringify(r.error)}`).to.equal(undefined);
            ingestedBy[target]! += results.filter((r) => !r.duplicate).length;
            break;
          } catch (err) {
            if (target !== 2 || !stopping) throw err;
            target = (start / BATCH) % 2; // c went away under this call: the client tries another
          }
        }
      }
    };
    const publishing = Promise.all([0, 1, 2].map(publishShare));
    // Mid-run: events are still coming in on all three, and deliveries are flowing.
    const ingested = (): number => ingestedBy.reduce((x, y) => x + y);
    await waitUntil(() => ingested() >= EVENTS * 0.4 && receiver!.ids.length >= 100, '40% of the events in and deliveries flowing', 120_000);
    stopping = true;
    c.kill('SIGTERM');
    await publishing;
    expect(ingested(), 'events stored').to.equal(EVENTS);
    expect(ingestedBy.every((n) => n > 0), `events ingested by each replica: ${ingestedBy}`).to.equal(true);
    expect(ingestedBy[2], 'the stopped replica\'s later batches went to the others').to.be.lessThan(EVENTS / 3);
    expect(await c.waitForExit(GRACE_MS + 10_000), c.stderr).to.deep.equal({ code: 0, signal: null });

    const open = db;
    await waitUntil(async () => (await deliveryStatusCounts(open)).succeeded === DELIVERIES, `${DELIVERIES} deliveries succeeded`, 180_000);
    expect(await deliveryStatusCounts(open)).to.deep.equal({ succeeded: DELIVERIES });
    const rows = (await open('deliveries').select('id')) as Array<{ id: string }>;
    expect(new Set(receiver.ids)).to.deep.equal(new Set(rows.map((r) => r.id)));

    // The logs are complete once every replica has exited (a line may trail its database write).
    for (const r of [a, b]) {
      r.closeClients();
      r.kill('SIGTERM');
      expect(await r.waitForExit(GRACE_MS + 10_000), r.stderr).to.deep.equal({ code: 0, signal: null });
    }

    // A repeat is allowed only for an attempt the stopped replica cut and handed back.
    const cut = new Set(logged(c, 'attempt failed'));
    const repeats = receiver.ids.filter((id, i) => receiver!.ids.indexOf(id) !== i);
    expect(repeats.filter((id) => !cut.has(id)), 'webhook-ids sent twice under a valid lease').to.deep.equal([]);
    const successes = replicas.flatMap((r) => logged(r, 'attempt succeeded'));
    expect(successes.length, 'successes recorded').to.equal(DELIVERIES);
    expect(new Set(successes).size, 'deliveries recorded as succeeded by two replicas').to.equal(DELIVERIES);
    for (const r of replicas) {
      expect(r.logged('lease lost before the attempt was recorded; another worker owns the delivery'), 'lease lost').to.have.length(0);
      expect(logged(r, 'attempt succeeded').length, 'every replica delivered').to.be.greaterThan(0);
    }

  });
});
