/**
 * Page tokens are bound to the list they came from: the RPC, the tenant, and the filters that
 * define the list (not page_size). A token used with another list is INVALID_ARGUMENT naming
 * page_token; before, a ListDeliveries token given to ListWebhooks silently restarted paging, and
 * a token of tenant A was accepted under tenant B. Whatever a token says, a caller reads only its
 * own tenant's rows.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { ListDeliveriesRequest } from '../../src/grpc/generated/webhooks/v1/management';
import { encodePageToken } from '../../src/management/page-token';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const A = 'tenant-a';
const B = 'tenant-b';
const ALL: ListDeliveriesRequest = { webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 1, pageToken: '' };

forEachDatabase('page tokens', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  /** Tenant A's two webhooks, in creation order. */
  let hooks: string[];

  before(async () => {
    sidecar = await startSidecar(await database.create(), { WEBHOOKS_RETRY_BASE_MS: '600000' });
    receiver = await TestReceiver.start();
    const create = (tenantId: string) =>
      sidecar.admin(tenantId).createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    hooks = [(await create(A)).webhook!.id, (await create(A)).webhook!.id];
    await create(B);
    await create(B);
    for (let i = 0; i < 3; i++) await sidecar.admin(A).sendTestEvent({ webhookId: hooks[0]!, data: undefined });
  });

  after(async () => {
    await sidecar.stop();
    await receiver.close();
  });

  async function refusedToken(call: Promise<unknown>): Promise<void> {
    const err = await rejectionOf(call);
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details, err.details).to.match(/^page_token: /);
  }

  const webhooksToken = async (tenantId: string) => (await sidecar.admin(tenantId).listWebhooks({ pageSize: 1, pageToken: '' })).nextPageToken;
  const deliveriesToken = async (req: Partial<ListDeliveriesRequest> = {}) =>
    (await sidecar.admin(A).listDeliveries({ ...ALL, ...req })).nextPageToken;

  it('refuses a ListDeliveries token given to ListWebhooks, and the other way round', async () => {
    await refusedToken(sidecar.admin(A).listWebhooks({ pageSize: 1, pageToken: await deliveriesToken() }));
    await refusedToken(sidecar.admin(A).listDeliveries({ ...ALL, pageToken: await webhooksToken(A) }));
  });

  it("refuses another tenant's token", async () => {
    await refusedToken(sidecar.admin(B).listWebhooks({ pageSize: 1, pageToken: await webhooksToken(A) }));
    await refusedToken(sidecar.admin(B).listDeliveries({ ...ALL, pageToken: await deliveriesToken() }));
  });

  it('refuses a ListDeliveries token with other filters', async () => {
    const token = await deliveriesToken({ webhookId: hooks[0]! });
    expect(token).not.to.equal('');
    const admin = sidecar.admin(A);
    await refusedToken(admin.listDeliveries({ ...ALL, pageToken: token }));
    await refusedToken(admin.listDeliveries({ ...ALL, webhookId: hooks[1]!, pageToken: token }));
    await refusedToken(admin.listDeliveries({ ...ALL, webhookId: hooks[0]!, status: 1, pageToken: token }));
    await refusedToken(admin.listDeliveries({ ...ALL, webhookId: hooks[0]!, startTime: new Date(0), pageToken: token }));
    await refusedToken(admin.listDeliveries({ ...ALL, webhookId: hooks[0]!, endTime: new Date(Date.now() + 3_600_000), pageToken: token }));
  });

  it('pages with the same filters, whatever the page_size, without overlaps', async () => {
    const admin = sidecar.admin(A);
    const first = await admin.listDeliveries({ ...ALL, webhookId: hooks[0]!, pageSize: 1 });
    const rest = await admin.listDeliveries({ ...ALL, webhookId: hooks[0]!, pageSize: 5, pageToken: first.nextPageToken });
    const ids = [...first.deliveries, ...rest.deliveries].map((d) => d.id);
    expect(ids).to.have.length(3);
    expect(new Set(ids).size).to.equal(3);
    expect(rest.nextPageToken).to.equal('');
    const page2 = await admin.listWebhooks({ pageSize: 1, pageToken: await webhooksToken(A) });
    expect(page2.webhooks.map((w) => w.id)).to.deep.equal([hooks[1]]);
  });

  it("reads only the caller's tenant, whatever a token it made itself says", async () => {
    // Tokens are not signed: one made outside the server, for tenant B's own list, starting
    // before every id, still reads tenant B's rows only.
    const forged = encodePageToken('', { rpc: 'ListWebhooks', tenantId: B });
    const { webhooks } = await sidecar.admin(B).listWebhooks({ pageSize: 100, pageToken: forged });
    expect(webhooks.map((w) => w.tenantId)).to.deep.equal([B, B]);
    const deliveries = encodePageToken('~', { rpc: 'ListDeliveries', tenantId: B, filters: {} });
    expect((await sidecar.admin(B).listDeliveries({ ...ALL, pageSize: 100, pageToken: deliveries })).deliveries).to.deep.equal([]);
  });
});
