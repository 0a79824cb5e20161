/**
 * Management calls while the database cannot serve answer UNAVAILABLE, which clients retry, not
 * INTERNAL, which they take for a bug; the message names no host, port or driver code, and the
 * failure is logged. On MariaDB the database is taken away from one sidecar through a TCP proxy
 * (refused connections, as in a failover); on SQLite another connection holds the write lock
 * (SQLITE_BUSY).
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { UpdateWebhookRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { createLogger } from '../../src/telemetry/logger';
import { MYSQL_URL, testDatabases } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { MemoryLog } from '../support/memory-log';
import { openDb } from '../support/process-sidecar';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { TcpProxy } from '../support/tcp-proxy';

const TENANT = 'tenant-outage';
const createHook = (sidecar: TestSidecar) =>
  sidecar.admin(TENANT).createWebhook({ url: 'https://hooks.example.com/in', eventTypes: ['user.login'], description: '', organizationIds: [] });

function expectUnavailable(err: grpc.ServiceError, what: string): void {
  expect(err.code, `${what}: ${err.details}`).to.equal(grpc.status.UNAVAILABLE);
  expect(err.details).to.equal('the database is unavailable; try again');
}

const mysql = testDatabases().find((d) => d.name === 'mysql');
(MYSQL_URL && mysql ? describe : describe.skip)('management calls while MariaDB is unreachable [mysql]', () => {
  let sidecar: TestSidecar | undefined;
  let proxy: TcpProxy | undefined;

  after(() => mysql?.dropAll());
  afterEach(async () => {
    await proxy?.restore();
    await sidecar?.stop();
    await proxy?.close();
    sidecar = undefined;
  });

  it('answers GetWebhook, ListWebhooks and UpdateWebhook UNAVAILABLE, logs why, and serves again after', async function () {
    this.timeout(60_000);
    const direct = await mysql!.create();
    const proxied = await TcpProxy.inFrontOf(direct);
    proxy = proxied.proxy;
    const log = new MemoryLog();
    sidecar = await startSidecar(proxied.url, {}, { logger: createLogger('info', log) });
    const { webhook } = await createHook(sidecar);
    const admin = sidecar.admin(TENANT);

    await proxy.cut();
    expectUnavailable(await rejectionOf(admin.getWebhook({ id: webhook!.id })), 'GetWebhook');
    expectUnavailable(await rejectionOf(admin.listWebhooks({ pageSize: 10, pageToken: '' })), 'ListWebhooks');
    const update = UpdateWebhookRequest.fromPartial({ webhook: { id: webhook!.id, description: 'x' }, updateMask: ['description'] });
    expectUnavailable(await rejectionOf(admin.updateWebhook(update)), 'UpdateWebhook');
    const logged = log.messages('request failed').map((l) => l.method);
    expect(logged).to.include.members(['GetWebhook', 'ListWebhooks', 'UpdateWebhook']);

    await proxy.restore();
    expect((await admin.getWebhook({ id: webhook!.id })).webhook!.id).to.equal(webhook!.id);
  });
});

describe('management calls while SQLite is locked [sqlite]', () => {
  const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;
  after(() => sqlite.dropAll());

  it('answers a write UNAVAILABLE when another connection holds the write lock', async function () {
    this.timeout(30_000);
    const url = await sqlite.create();
    const sidecar = await startSidecar(url);
    const other = openDb(url);
    try {
      const { webhook } = await createHook(sidecar);
      await other.transaction(async (trx) => {
        // Holds SQLite's one write lock while the sidecar writes: its transaction, which read
        // first, cannot take the lock and fails SQLITE_BUSY (waiting would not help it).
        await trx('webhooks').update({ description: 'held' }).where({ id: webhook!.id });
        const update = UpdateWebhookRequest.fromPartial({ webhook: { id: webhook!.id, description: 'x' }, updateMask: ['description'] });
        expectUnavailable(await rejectionOf(sidecar.admin(TENANT).updateWebhook(update)), 'UpdateWebhook');
      });
    } finally {
      await other.destroy();
      await sidecar.stop();
    }
  });
});
