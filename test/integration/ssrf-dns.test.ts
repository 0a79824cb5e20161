/**
 * The connect-time guard against names, on each database, with an injected resolver: a mixed
 * answer is refused whole (not even its allowed address is tried), a name that rebinds from the
 * allowed address to a private one never reaches the private one, and proxy variables in the
 * environment do not route deliveries around the guard. Canaries listen on every loopback address
 * but the allowed 127.0.0.2, on the receiver's port.
 */
import { expect } from 'chai';
import { DeliveryStatus, type GetDeliveryResponse } from '../../src/grpc/generated/webhooks/v1/management';
import { ALLOWED_CIDRS, NO_HITS, setTrap, type Trap } from '../support/canary';
import { forEachDatabase } from '../support/databases';
import { FakeDns } from '../support/fake-dns';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-dns';
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'NODE_USE_ENV_PROXY'];
const SAVED_VARIABLES = [...PROXY_VARIABLES, 'NO_PROXY', 'no_grpc_proxy'];
let seq = 0;

forEachDatabase('SSRF: names and the connect-time guard', (database) => {
  let sidecar: TestSidecar | undefined;
  let trap: Trap;
  let dns: FakeDns;

  beforeEach(async () => {
    trap = await setTrap();
    dns = new FakeDns().set('legit.example.test', ['127.0.0.2']);
  });

  afterEach(async () => {
    await sidecar?.stop();
    sidecar = undefined;
    await trap.close();
  });

  async function start(): Promise<TestSidecar> {
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_ALLOWED_CIDRS: ALLOWED_CIDRS, WEBHOOKS_MAX_RETRIES: '0' }, { resolver: dns.resolver });
    return sidecar;
  }

  async function webhook(host: string): Promise<string> {
    const url = `http://${host}:${trap.port}/hooks`;
    return (await sidecar!.admin(TENANT).createWebhook({ url, eventTypes: ['user.login'], description: '', organizationIds: [] })).webhook!.id;
  }

  /** Publishes one event to the tenant's webhooks and waits for its delivery to end. */
  async function deliverOne(webhookId: string): Promise<GetDeliveryResponse> {
    const eventId = `evt-${++seq}`;
    const admin = sidecar!.admin(TENANT);
    await sidecar!.ingest.publishEvent({ event: { id: eventId, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    const page = await admin.listDeliveries({ webhookId, status: 0, startTime: undefined, endTime: undefined, pageSize: 100, pageToken: '' });
    const id = page.deliveries.find((d) => d.eventId === eventId)!.id;
    let last: GetDeliveryResponse | undefined;
    await waitUntil(async () => (last = await admin.getDelivery({ id })).delivery!.status !== DeliveryStatus.DELIVERY_STATUS_PENDING, `delivery ${id}`);
    return last!;
  }

  it('refuses a mixed answer whole: neither its allowed nor its loopback address is connected to', async () => {
    dns.set('mixed.attacker.example', ['127.0.0.2', '127.0.0.1']);
    await start();
    const { delivery, attempts } = await deliverOne(await webhook('mixed.attacker.example'));

    expect(delivery!.status).to.equal(DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ statusCode: 0, errorClass: 'destination_refused' });
    // The reason, but not the address: what internal names resolve to is not the tenant's to learn.
    expect(attempts[0]!.errorMessage).to.include('loopback').and.not.include('127.0.0.1');
    expect(dns.count('mixed.attacker.example')).to.equal(1);
    expect(trap.receiver.requests).to.have.length(0);
    expect(trap.hits()).to.deep.equal(NO_HITS);
  });

  it('never reaches the private address of a name that rebinds from the allowed one', async () => {
    // First question: the allowed receiver. Every later one: loopback, where a canary waits.
    dns.set('rebind.attacker.example', (asked) => (asked === 0 ? ['127.0.0.2'] : ['127.0.0.1']));
    // Closing each connection makes every attempt connect, and so resolve, anew.
    trap.receiver.respondWith(() => ({ status: 200, body: 'ok', headers: { connection: 'close' } }));
    await start();
    const id = await webhook('rebind.attacker.example');

    const first = await deliverOne(id);
    expect(first.delivery!.status).to.equal(DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
    // One question for one connection: a guard that checked one answer and let the socket ask
    // again would have connected to the second (the canary).
    expect(dns.count('rebind.attacker.example')).to.equal(1);

    const second = await deliverOne(id);
    expect(second.delivery!.status).to.equal(DeliveryStatus.DELIVERY_STATUS_FAILED);
    expect(second.attempts[0]).to.include({ errorClass: 'destination_refused' });
    expect(dns.count('rebind.attacker.example')).to.equal(2);
    expect(trap.receiver.requests).to.have.length(1);
    expect(trap.hits()).to.deep.equal(NO_HITS);
  });

  it('ignores proxy variables: deliveries go straight to the checked address, never to the proxy', async () => {
    dns.set('loopback.attacker.example', ['127.0.0.1']);
    const saved = Object.fromEntries(SAVED_VARIABLES.map((name) => [name, process.env[name]]));
    // The "proxy" is the canary on 127.0.0.1: a client honouring these would connect to it.
    for (const name of PROXY_VARIABLES) process.env[name] = name === 'NODE_USE_ENV_PROXY' ? '1' : `http://127.0.0.1:${trap.port}`;
    delete process.env.NO_PROXY;
    // grpc-js honours these variables too: only the test's own gRPC client is exempted.
    process.env.no_grpc_proxy = '127.0.0.1';
    try {
      await start();
      // The refused one first, so that the second event is the allowed receiver's only one.
      const bad = await deliverOne(await webhook('loopback.attacker.example'));
      const good = await deliverOne(await webhook('legit.example.test'));

      expect(good.delivery!.status).to.equal(DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
      // Origin-form: a request through a proxy would carry the absolute URL.
      expect(trap.receiver.requests.map((r) => r.path)).to.deep.equal(['/hooks']);
      expect(bad.attempts[0]).to.include({ errorClass: 'destination_refused' });
      expect(trap.hits()).to.deep.equal(NO_HITS);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
