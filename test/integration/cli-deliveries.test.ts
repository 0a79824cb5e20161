/**
 * The operator CLI's delivery commands against a running sidecar and a real receiver:
 * `deliveries tail` prints each new delivery and each change until it is stopped, `deliveries
 * list/get` show failures with their attempts, `retry-failed` and `retry` send them again,
 * `stats` agrees with the API, and `webhooks test` reaches the receiver. WEBHOOKS_MAX_RETRIES=0
 * makes one failed attempt final, so nothing waits for a retry schedule.
 */
import { expect } from 'chai';
import { DeliveryStatus, type Delivery } from '../../src/grpc/generated/webhooks/v1/management';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { deliveryIdAt } from '../../src/ids';
import { cliEnv, runCli, startCli } from '../support/cli';
import { testDatabases, type TestDatabase } from '../support/databases';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-cli-deliveries';
const ROW = /^(\S+)\s+(msg_\w+)\s+(\S+)\s+(pending|succeeded|failed|paused)\s+(\d+)\s+(\S+)\s+(.*)$/gm;

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: `u-${id}` } };
}

describe('cli: deliveries, stats and test events against a running sidecar', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let env: Record<string, string | undefined>;
  let webhookId: string;
  let answer = 200;

  before(async () => {
    database = testDatabases()[0]!;
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_MAX_RETRIES: '0' });
    receiver = await TestReceiver.start();
    receiver.respondWith(() => ({ status: answer }));
    env = cliEnv(sidecar, TENANT);
    const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    webhookId = webhook!.id;
  });

  after(async () => {
    await sidecar?.stop();
    await receiver?.close();
    await database?.dropAll();
  });

  async function deliveryOf(eventId: string): Promise<Delivery> {
    const { deliveries } = await sidecar.admin(TENANT).listDeliveries({ webhookId, status: 0, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '' });
    const found = deliveries.find((d) => d.eventId === eventId);
    if (!found) throw new Error(`no delivery of ${eventId}`);
    return found;
  }

  async function waitForStatus(eventId: string, status: DeliveryStatus, attempts: number): Promise<Delivery> {
    let last: Delivery | undefined;
    await waitUntil(async () => {
      last = await deliveryOf(eventId).catch(() => undefined);
      return last?.status === status && last.attemptCount === attempts;
    }, `${eventId} ${DeliveryStatus[status]} after ${attempts} attempt(s)`);
    return last!;
  }

  it('deliveries tail prints each new delivery and its changes once each, and stops cleanly when told', async () => {
    const stop = new AbortController();
    const tail = startCli(['deliveries', 'tail', webhookId, '--interval', '100ms', '--last', '0'], env, { signal: stop.signal });
    await waitUntil(() => tail.output.stdout.startsWith('CREATED'), 'the header of tail');
    await sidecar.ingest.publishEvents({ events: ['evt-tail-1', 'evt-tail-2', 'evt-tail-3'].map(login) });
    const rows = (): string[][] => [...tail.output.stdout.matchAll(ROW)].map((m) => m.slice(1));
    await waitUntil(() => rows().filter((r) => r[3] === 'succeeded').length === 3, 'three succeeded rows in the tail', 15_000);
    stop.abort();
    const result = await tail.done;
    expect(result.code, result.stderr).to.equal(0);
    const ids = await Promise.all(['evt-tail-1', 'evt-tail-2', 'evt-tail-3'].map(async (e) => (await deliveryOf(e)).id));
    const succeeded = rows().filter((r) => r[3] === 'succeeded');
    expect(succeeded.map((r) => r[1]).sort()).to.deep.equal([...ids].sort());
    expect(succeeded.every((r) => r[2] === 'user.login' && r[4] === '1' && r[5] === '200')).to.equal(true);
    // A change is printed once: no (id, status, attempts) twice.
    const keys = rows().map((r) => `${r[1]} ${r[3]} ${r[4]}`);
    expect(keys).to.deep.equal([...new Set(keys)]);
  });

  it('deliveries tail shows a delivery committed after a newer one was shown, once, and no older history', async () => {
    const stop = new AbortController();
    const tail = startCli(['deliveries', 'tail', webhookId, '--interval', '100ms', '--last', '1'], env, { signal: stop.signal });
    const rows = (): string[][] => [...tail.output.stdout.matchAll(ROW)].map((m) => m.slice(1));
    const printed = (id: string) => rows().some((r) => r[1] === id && r[3] === 'succeeded');
    // Stopped however the test ends: a tail left running keeps mocha from exiting.
    try {
      await waitUntil(() => rows().length === 1, 'the newest delivery, as --last 1');
      await followLateDelivery(printed);
    } finally {
      stop.abort();
    }
    const result = await tail.done;
    expect(result.code, result.stderr).to.equal(0);
    const keys = rows().map((r) => `${r[1]} ${r[3]} ${r[4]}`);
    expect(keys, 'no change printed twice').to.deep.equal([...new Set(keys)]);
    const history = await Promise.all(['evt-tail-1', 'evt-tail-2'].map(async (e) => (await deliveryOf(e)).id));
    expect(rows().filter((r) => history.includes(r[1]!)), 'history older than --last').to.deep.equal([]);
  });

  /** A delivery shown, then one created 2 s before it made visible, then another poll or more. */
  async function followLateDelivery(printed: (id: string) => boolean): Promise<void> {
    await sidecar.ingest.publishEvent({ event: login('evt-tail-shown') });
    const shown = await waitForStatus('evt-tail-shown', DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 1);
    await waitUntil(() => printed(shown.id), 'the new delivery, succeeded, in the tail');
    // Visible only now, as from a slow transaction or another replica.
    const created = shown.createTime!.getTime() - 2000;
    const lateId = `${deliveryIdAt(created)}${'0'.repeat(15)}1`;
    await sidecar.app.db('deliveries').insert({
      id: lateId, tenant_id: TENANT, event_tenant_id: TENANT, webhook_id: webhookId, event_id: 'evt-tail-late', event_type: 'user.login',
      status: 'succeeded', attempt_count: 1, next_attempt_at: null, created_at: created, updated_at: created, completed_at: created + 5,
    });
    await waitUntil(() => printed(lateId), 'the late delivery in the tail', 10_000);
    // More polls, which read the same window again.
    await sidecar.ingest.publishEvent({ event: login('evt-tail-after') });
    const after = await waitForStatus('evt-tail-after', DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 1);
    await waitUntil(() => printed(after.id), 'the next delivery in the tail');
  }

  it('deliveries list and get show a failed delivery with its attempt; retry-failed sends it again', async () => {
    answer = 500;
    await sidecar.ingest.publishEvent({ event: login('evt-fails') });
    const failed = await waitForStatus('evt-fails', DeliveryStatus.DELIVERY_STATUS_FAILED, 1);
    const list = await runCli(['deliveries', 'list', '--webhook', webhookId, '--status', 'failed', '--json'], env);
    expect(list.code, list.stderr).to.equal(0);
    const listed = (JSON.parse(list.stdout) as { deliveries: Array<Record<string, unknown>> }).deliveries;
    expect(listed.map((d) => d.id)).to.deep.equal([failed.id]);
    expect(listed[0]).to.include({ status: 'DELIVERY_STATUS_FAILED', attemptCount: 1, lastStatusCode: 500 });
    const get = await runCli(['deliveries', 'get', failed.id], env);
    expect(get.code, get.stderr).to.equal(0);
    expect(get.stdout).to.match(/^status:\s+failed$/m).and.match(/^1\s+\S+\s+\d+\s+500\s+http_status: /m);

    answer = 200;
    const retried = await runCli(['deliveries', 'retry-failed', webhookId, '--since', '1h'], env);
    expect(retried.code, retried.stderr).to.equal(0);
    expect(retried.stdout).to.match(/^1 failed delivery since \S+ sent again\.$/m);
    await waitForStatus('evt-fails', DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 2);
    const none = await runCli(['deliveries', 'list', '--webhook', webhookId, '--status', 'failed'], env);
    expect(none.stdout).to.equal('No deliveries.\n');
  });

  it('deliveries retry sends one delivery again with the same webhook-id', async () => {
    await sidecar.ingest.publishEvent({ event: login('evt-again') });
    const first = await waitForStatus('evt-again', DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 1);
    const res = await runCli(['deliveries', 'retry', first.id], env);
    expect(res.code, res.stderr).to.equal(0);
    await waitForStatus('evt-again', DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 2);
    expect(receiver.requests.filter((r) => r.headers['webhook-id'] === first.id)).to.have.length(2);
  });

  it('stats agrees with the API; webhooks test reaches the receiver', async () => {
    const test = await runCli(['webhooks', 'test', webhookId, '--data', '{"note":"from the CLI"}', '--json'], env);
    expect(test.code, test.stderr).to.equal(0);
    const { delivery } = JSON.parse(test.stdout) as { delivery: { id: string; eventId: string; eventType: string } };
    expect(delivery.eventType).to.equal('webhook.test');
    await waitForStatus(delivery.eventId, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED, 1);
    const received = receiver.requests.find((r) => r.headers['webhook-id'] === delivery.id);
    expect(JSON.parse(received!.body)).to.deep.include({ type: 'webhook.test', data: { note: 'from the CLI' } });

    // What JSON.parse and the protobuf encoder would change without a word is a usage error.
    const big = await runCli(['webhooks', 'test', webhookId, '--data', '{"ext_id":12345678901234567890}'], env);
    expect(big.code, big.stdout).to.equal(2);
    expect(big.stderr).to.match(/^error: --data: ext_id: 12345678901234567890 is beyond ±\(2\^53-1\)/);
    const proto = await runCli(['webhooks', 'test', webhookId, '--data', '{"a":[{"__proto__":1}]}'], env);
    expect(proto.code, proto.stdout).to.equal(2);
    expect(proto.stderr).to.match(/^error: --data: a\[0\]\.__proto__: a key named "__proto__" is not accepted\n/);

    const { stats } = await sidecar.admin(TENANT).getWebhookStats({ webhookId, window: undefined });
    const json = await runCli(['stats', webhookId, '--json'], env);
    expect(json.code, json.stderr).to.equal(0);
    expect((JSON.parse(json.stdout) as { stats: unknown }).stats).to.deep.include({
      deliveriesSucceeded: stats!.deliveriesSucceeded,
      deliveriesFailed: 0,
      attempts: stats!.attempts,
    });
    const table = await runCli(['stats', webhookId, '--window', '1h'], env);
    expect(table.stdout).to.match(new RegExp(`^succeeded:\\s+${stats!.deliveriesSucceeded}$`, 'm')).and.match(/^success rate \(1h\):\s+\d+\.\d%$/m);
  });
});
