/**
 * Two replicas on one MySQL database, B's wall clock 30 s ahead of A's (a --require preload, as a
 * host without NTP). Lease ends and due times are the database's, so B must neither take a lease
 * A still holds (the receiver got the same webhook-id from both at once) nor send a retry A
 * scheduled before its time (it came 200 ms after the first attempt instead of the base delay).
 * Lease 11 s (request timeout 5 s) and retry base 6 s are both well under the 30 s skew.
 */
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { MYSQL_URL, testDatabases, type TestDatabase } from '../support/databases';
import {
  CLOCK_SKEW_PRELOAD,
  processEnv,
  startProcessSidecar,
  stopProcessSidecars,
  type ProcessSidecar,
} from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-clock-skew';
const SKEW_MS = 30_000;
const RETRY_BASE_MS = 6_000;
/** retry-schedule.ts: ±20%. */
const EARLIEST_RETRY_MS = RETRY_BASE_MS * 0.8;
const ANSWER_DELAY_MS = 3_000;

function event(id: string, type: string): Event {
  return { id, tenantId: TENANT, type, occurredAt: new Date(), organizationId: '', data: { user_id: 'u-1' } };
}

describe('e2e: two replicas on one MySQL database, one with its clock 30 s ahead', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let a: ProcessSidecar;
  let b: ProcessSidecar;
  const receivers: TestReceiver[] = [];

  before(async function () {
    if (!MYSQL_URL) this.skip(); // SQLite is one process's store (DESIGN.md, Storage)
    database = testDatabases().find((d) => d.name === 'mysql')!;
    const env = processEnv(await database.create(), {
      WEBHOOKS_REQUEST_TIMEOUT_MS: '5000',
      WEBHOOKS_RETRY_BASE_MS: String(RETRY_BASE_MS),
      WEBHOOKS_POLL_INTERVAL_MS: '100',
    });
    a = await startProcessSidecar(env);
    b = await startProcessSidecar({ ...env, WEBHOOKS_TEST_CLOCK_SKEW_MS: String(SKEW_MS) }, { preload: [CLOCK_SKEW_PRELOAD] });
  });

  after(async () => {
    await stopProcessSidecars();
    await Promise.all(receivers.map((r) => r.close()));
    await database?.dropAll();
  });

  async function webhookTo(receiver: TestReceiver, eventType: string): Promise<void> {
    receivers.push(receiver);
    await a.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: [eventType], description: '', organizationIds: [] });
  }

  it('the skewed replica measured its offset from the database clock and warned once', () => {
    const warnings = b.logs().filter((l) => /clock disagrees with the database/.test(String(l.msg)));
    expect(warnings).to.have.length(1);
    expect(Number(warnings[0]!.offsetMs)).to.be.within(-SKEW_MS - 1_000, -SKEW_MS + 1_000);
    expect(a.logs().filter((l) => /clock disagrees/.test(String(l.msg)))).to.have.length(0);
  });

  it('a delivery in flight on one replica is not taken by the other', async () => {
    const slow = await TestReceiver.start();
    slow.answerDelayMs = ANSWER_DELAY_MS;
    await webhookTo(slow, 'user.login');
    await a.ingest.publishEvent({ event: event('evt-slow', 'user.login') });
    await slow.waitForRequests(1);
    // Past the answer: a replica that took the lease meanwhile has POSTed by now (it polls every 100 ms).
    await waitUntil(() => Date.now() - slow.requests[0]!.at > ANSWER_DELAY_MS + 1_000, 'the attempt to end', 10_000);
    const ids = slow.requests.map((r) => String(r.headers['webhook-id']));
    expect(ids, 'each webhook-id once').to.have.length(1);
  });

  it('a retry waits its base delay on every replica', async () => {
    const flaky = await TestReceiver.start();
    flaky.respondWith((_req, i) => ({ status: i === 0 ? 500 : 200 }));
    await webhookTo(flaky, 'user.logout');
    await a.ingest.publishEvent({ event: event('evt-flaky', 'user.logout') });
    const [first, retry] = await flaky.waitForRequests(2, RETRY_BASE_MS * 2 + 10_000);
    expect(retry!.headers['webhook-id']).to.equal(first!.headers['webhook-id']);
    expect(retry!.at - first!.at, 'ms from the failed attempt to its retry').to.be.at.least(EARLIEST_RETRY_MS);
  });
});
