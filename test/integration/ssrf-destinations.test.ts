/**
 * The SSRF table, on each database: hostile destinations, each refused when the webhook is
 * created or, for names that only DNS makes hostile, when the delivery connects. Rows refused at
 * creation are then written into a webhook row directly (as a row from before a rule change
 * would be) to show that the send-time guard refuses them as well. Canaries listen on the same
 * port of every loopback address that is not allowed; they must accept zero connections, while
 * a control webhook reaches the allowed receiver on 127.0.0.2 through the same port.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { ALLOWED_CIDRS, NO_HITS, setTrap, type Trap } from '../support/canary';
import { FakeDns } from '../support/fake-dns';
import { rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

/** Where a row is refused; `send` is the error class of the bypassing attempt ('any': some failure). */
interface Row {
  readonly url: string;
  readonly at: 'creation' | 'connect';
  readonly send?: string;
}
const c = (url: string, send?: string): Row => ({ url, at: 'creation', send });
const k = (url: string): Row => ({ url, at: 'connect' });

// {P} is the port of the allowed receiver, where every canary listens too.
const ROWS: readonly Row[] = [
  // IPv4 loopback, every spelling the URL parser accepts
  c('http://127.0.0.1:{P}/hooks'), c('http://127.1:{P}/'), c('http://127.0.1:{P}/'), c('http://2130706433:{P}/'),
  c('http://0x7f000001:{P}/'), c('http://0x7f.0x0.0x0.0x1:{P}/'), c('http://0177.0.0.1:{P}/'), c('http://0177.0000.0000.0001:{P}/'),
  c('http://017700000001:{P}/'), c('http://0x7f.1:{P}/'), c('http://127.0.0.1.:{P}/'), c('http://%31%32%37.0.0.1:{P}/'),
  c('http://①②⑦.0.0.1:{P}/'), c('http://127。0。0。1:{P}/'), c('http://127.0.0.3:{P}/'), c('http://127.255.255.254:{P}/'),
  c('http://0.0.0.0:{P}/'), c('http://0:{P}/'), c('http://0x0:{P}/'),
  // IPv6: loopback, mapped, NAT64, 6to4, IPv4-compatible, unspecified, link-local (with a zone), ULA, multicast
  c('http://[::1]:{P}/'), c('http://[0:0:0:0:0:0:0:1]:{P}/'), c('http://[::ffff:127.0.0.1]:{P}/'), c('http://[::ffff:7f00:1]:{P}/'),
  c('http://[::ffff:127.0.0.3]:{P}/'), c('http://[64:ff9b::127.0.0.1]:{P}/'), c('http://[64:ff9b::7f00:1]:{P}/'),
  c('http://[2002:7f00:1::1]:{P}/'), c('http://[::127.0.0.1]:{P}/'), c('http://[::]:{P}/'), c('http://[fe80::1%25lo]:{P}/', 'any'),
  c('http://[fe80::1]:{P}/'), c('http://[fd00::1]:{P}/'), c('http://[ff02::1]:{P}/'),
  // private, shared, reserved, multicast and broadcast IPv4
  c('http://10.0.0.1/'), c('http://012.0.0.1/'), c('http://172.16.0.1/'), c('http://172.31.255.255/'), c('http://192.168.0.1/'),
  c('http://0xc0a80001/'), c('http://3232235521/'), c('http://100.64.0.1/'), c('http://198.18.0.1/'), c('http://192.0.0.1/'),
  c('http://224.0.0.1/'), c('http://255.255.255.255/'), c('http://240.0.0.1/'),
  // cloud metadata endpoints
  c('http://169.254.169.254/latest/meta-data/'), c('http://169.254.170.2/v2/credentials'), c('http://[fd00:ec2::254]/'),
  c('http://0251.0376.0251.0376/'), c('http://2852039166/'), c('http://0xa9fea9fe/'), c('http://[::ffff:169.254.169.254]/'),
  c('http://[::ffff:a9fe:a9fe]/'), c('http://100.100.100.200/latest/meta-data/'), k('http://metadata.google.internal/computeMetadata/v1/'),
  // localhost and internal names
  c('http://localhost:{P}/'), c('http://LOCALHOST:{P}/'), c('http://localhost.:{P}/'), c('http://sub.localhost:{P}/'),
  c('http://%6c%6f%63%61%6c%68%6f%73%74:{P}/'), c('http://ｌｏｃａｌｈｏｓｔ:{P}/'), c('http://intranet:{P}/'),
  // credentials and look-alike authorities
  c('http://user:pass@127.0.0.1:{P}/'), c('https://admin@127.0.0.1:{P}/'), c('http://127.0.0.2:{P}@127.0.0.1:{P}/'),
  c('http://127.0.0.1:{P}/#@127.0.0.2:{P}/'),
  // other schemes
  c('ftp://127.0.0.1:{P}/'), c('file:///etc/passwd', 'any'), c('gopher://127.0.0.1:{P}/_GET'), c('dict://127.0.0.1:{P}/'),
  c('ws://127.0.0.1:{P}/'), c('javascript:alert(1)', 'any'), c('data:text/plain,hi', 'any'),
  // internal ports
  c('http://127.0.0.1:22/'), c('http://127.0.0.1:3306/'), c('http://127.0.0.1:6379/'), c('http://[::1]:25/'),
  c('http://10.0.0.5:2379/'), c('http://169.254.169.254:80/'),
  // public-looking names that DNS makes hostile
  k('http://localtest.me:{P}/'), k('http://127.0.0.1.nip.io:{P}/'), k('http://localhost.localdomain:{P}/'),
  k('http://v6.attacker.example:{P}/'), k('http://mapped.attacker.example:{P}/'), k('http://third.attacker.example:{P}/'),
  k('http://zero.attacker.example:{P}/'), k('http://nat64.attacker.example:{P}/'), k('http://zone.attacker.example:{P}/'),
  k('http://mixed.attacker.example:{P}/'), k('http://private.attacker.example/'), k('http://db.attacker.example:3306/'),
];

function fakeDns(): FakeDns {
  return new FakeDns()
    .set('legit.example.test', ['127.0.0.2'])
    .set('metadata.google.internal', ['169.254.169.254'])
    .set('localhost', ['127.0.0.1', '::1'])
    .set('localhost.', ['127.0.0.1'])
    .set('sub.localhost', ['127.0.0.1'])
    .set('intranet', ['10.1.2.3'])
    .set('localtest.me', ['127.0.0.1'])
    .set('127.0.0.1.nip.io', ['127.0.0.1'])
    .set('localhost.localdomain', ['127.0.0.1'])
    .set('v6.attacker.example', ['::1'])
    .set('mapped.attacker.example', ['::ffff:127.0.0.1'])
    .set('third.attacker.example', ['127.0.0.3'])
    .set('zero.attacker.example', ['0.0.0.0'])
    .set('nat64.attacker.example', ['64:ff9b::7f00:1'])
    .set('zone.attacker.example', ['fe80::1%lo'])
    // A public address first: the guard must refuse the whole answer, not pick the good one.
    .set('mixed.attacker.example', ['127.0.0.2', '127.0.0.1'])
    .set('private.attacker.example', ['10.0.0.1'])
    .set('db.attacker.example', ['127.0.0.1']);
}

const TENANTS = ['tenant-ssrf-1', 'tenant-ssrf-2'];

forEachDatabase('SSRF: hostile destinations', (database) => {
  let sidecar: TestSidecar;
  let trap: Trap;
  let dns: FakeDns;

  before(async () => {
    trap = await setTrap();
    dns = fakeDns();
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_ALLOWED_CIDRS: ALLOWED_CIDRS, WEBHOOKS_MAX_RETRIES: '0' }, { resolver: dns.resolver });
  });

  after(async () => {
    await sidecar.stop();
    await trap.close();
  });

  const create = (tenantId: string, url: string) =>
    sidecar.admin(tenantId).createWebhook({ url, eventTypes: ['user.login'], description: '', organizationIds: [] });

  it(`has at least 60 hostile destinations in its table (${ROWS.length})`, () => {
    expect(ROWS.length).to.be.at.least(60);
    expect(new Set(ROWS.map((r) => r.url)).size).to.equal(ROWS.length);
  });

  it('counts connections on every canary (the zero below is meaningful)', async () => {
    const net = await import('node:net');
    for (const canary of trap.canaries) {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect({ host: canary.host, port: trap.port }, () => socket.end());
        socket.once('close', () => resolve()).once('error', reject);
      });
      expect(canary.connections, canary.host).to.equal(1);
      canary.connections = 0;
    }
  });

  it('refuses each one at creation or at connect time, and the canaries accept zero connections', async () => {
    const byWebhook = new Map<string, Row & { url: string }>();
    for (const [i, row] of ROWS.entries()) {
      const tenantId = TENANTS[i % TENANTS.length]!;
      const url = row.url.replaceAll('{P}', String(trap.port));
      if (row.at === 'connect') {
        byWebhook.set((await create(tenantId, url)).webhook!.id, { ...row, url });
        continue;
      }
      const err = await rejectionOf(create(tenantId, url));
      expect(err.code, `${url}: ${err.details}`).to.equal(status.INVALID_ARGUMENT);
      expect(err.details, url).to.match(/^url: /);
      // The bypass: the same URL in a webhook row, as if it had been stored before the rules.
      const { webhook } = await create(tenantId, trap.receiver.url);
      await sidecar.app.db('webhooks').where({ id: webhook!.id }).update({ url });
      byWebhook.set(webhook!.id, { ...row, url });
    }
    const control = (await create(TENANTS[0]!, `http://legit.example.test:${trap.port}/hooks`)).webhook!.id;

    for (const tenantId of TENANTS) {
      await sidecar.ingest.publishEvent({ event: { id: 'evt-1', tenantId, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    }
    const db = sidecar.app.db;
    await waitUntil(async () => (await db('deliveries').where('status', 'pending').count({ n: '*' }).first() as { n: number | string }).n == 0, 'every delivery to end', 30_000);

    expect(trap.hits()).to.deep.equal(NO_HITS);
    expect(trap.receiver.requests.map((r) => r.path)).to.deep.equal(['/hooks']);
    const attempts = (await db('delivery_attempts').select('webhook_id', 'error_class', 'status_code')) as Array<{ webhook_id: string; error_class: string | null; status_code: number | null }>;
    expect(attempts).to.have.length(ROWS.length + 1);
    for (const attempt of attempts) {
      if (attempt.webhook_id === control) {
        expect(attempt, 'the control webhook').to.include({ error_class: null, status_code: 200 });
        continue;
      }
      const row = byWebhook.get(attempt.webhook_id)!;
      expect(attempt.status_code, row.url).to.equal(null);
      if (row.send !== 'any') expect(attempt.error_class, row.url).to.equal(row.send ?? 'destination_refused');
      else expect(attempt.error_class, row.url).to.be.a('string');
    }
    for (const row of ROWS.filter((r) => r.at === 'connect')) {
      expect(dns.count(new URL(row.url.replace('{P}', '1')).hostname), row.url).to.be.at.least(1);
    }
  });
});
