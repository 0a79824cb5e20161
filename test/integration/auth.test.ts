/**
 * Who may call what: each role's bearer token only on its own service, anything else refused
 * before a row is written, and the presented token never echoed back. The request bodies are
 * valid, so a call that slipped past authentication would write an event or a webhook.
 */
import { expect } from 'chai';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { testDatabases } from '../support/databases';
import { metadataOf, promised, rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const TENANT = 'tenant-auth';
const database = testDatabases()[0]!;

function metadataWith(authorization: string | undefined, tenantId: string | undefined = TENANT): Metadata {
  const md = new Metadata();
  if (authorization !== undefined) md.set('authorization', authorization);
  if (tenantId !== undefined) md.set('x-tenant-id', tenantId);
  return md;
}

let n = 0;
const login = (): Event => ({
  id: `auth-evt-${(n += 1)}`,
  tenantId: TENANT,
  type: 'user.login',
  occurredAt: new Date(),
  organizationId: '',
  data: { user_id: 'u-1' },
});

type Rpc = (sidecar: TestSidecar, md: Metadata) => Promise<unknown>;
const INGEST_RPCS: Record<string, Rpc> = {
  PublishEvent: (s, md) => promised(s.ingestClient, md).publishEvent({ event: login() }),
  PublishEvents: (s, md) => promised(s.ingestClient, md).publishEvents({ events: [login(), login()] }),
  StreamEvents: (s, md) => streamOne(s, md),
};
const ADMIN_RPCS: Record<string, Rpc> = {
  CreateWebhook: (s, md) =>
    promised(s.managementClient, md).createWebhook({ url: 'https://hooks.example.com/in', eventTypes: ['*'], description: '', organizationIds: [] }),
  ListWebhooks: (s, md) => promised(s.managementClient, md).listWebhooks({ pageSize: 0, pageToken: '' }),
  ListEventTypes: (s, md) => promised(s.managementClient, md).listEventTypes({}),
};
const ALL_RPCS = { ...INGEST_RPCS, ...ADMIN_RPCS };

/** One event through StreamEvents; rejects with the stream's status when it is not OK. */
function streamOne(sidecar: TestSidecar, md: Metadata): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    // A deadline, so that a status that never comes fails the test instead of hanging it.
    const call = sidecar.ingestClient.streamEvents(md, { deadline: Date.now() + 5_000 });
    const results: unknown[] = [];
    call.on('data', (res: unknown) => results.push(res));
    call.on('error', (err: ServiceError) => reject(err));
    call.on('end', () => resolve(results));
    call.write({ event: login() });
    call.end();
  });
}

describe(`authentication and roles [${database.name}]`, () => {
  let sidecar: TestSidecar;
  let db: Knex;
  let tokens: { ingest: string; admin: string };

  before(async () => {
    sidecar = await startSidecar(await database.create());
    db = sidecar.app.db;
    tokens = { ingest: sidecar.config.tokens.ingest, admin: sidecar.config.tokens.admin };
  });

  after(async () => {
    await sidecar.stop();
    await database.dropAll();
  });

  async function rowCounts(): Promise<number[]> {
    const counts: number[] = [];
    for (const table of ['webhooks', 'events', 'deliveries']) {
      const row = (await db(table).count({ n: '*' }).first()) as { n: number | string };
      counts.push(Number(row.n));
    }
    return counts;
  }

  /** Runs a call that must be refused with `code`, writes nothing, and echoes no token. */
  async function expectRefused(rpc: Rpc, md: Metadata, code: status, presented?: string): Promise<ServiceError> {
    const before = await rowCounts();
    const err = await rejectionOf(rpc(sidecar, md));
    expect(err.code, `${err.code} ${err.details}`).to.equal(code);
    for (const secret of [tokens.ingest, tokens.admin, ...(presented ? [presented] : [])]) {
      expect(err.details).not.to.include(secret);
      expect(err.message).not.to.include(secret);
    }
    expect(await rowCounts()).to.deep.equal(before);
    return err;
  }

  const UNAUTHENTICATED: ReadonlyArray<{ name: string; header: () => string | undefined; presented?: () => string }> = [
    { name: 'no authorization metadata', header: () => undefined },
    { name: '"Bearer wrong-token"', header: () => 'Bearer wrong-token', presented: () => 'wrong-token' },
    { name: '"Basic xyz"', header: () => 'Basic xyz', presented: () => 'xyz' },
    { name: '"Bearer" with no token', header: () => 'Bearer' },
    { name: 'the admin token under the Basic scheme', header: () => `Basic ${tokens.admin}` },
    { name: 'the ingest token with a character added', header: () => `Bearer ${tokens.ingest}x`, presented: () => `${tokens.ingest}x` },
    { name: 'a token followed by a second word', header: () => `Bearer ${tokens.admin} extra` },
  ];

  for (const { name, header, presented } of UNAUTHENTICATED) {
    describe(`with ${name}`, () => {
      for (const [rpc, call] of Object.entries(ALL_RPCS)) {
        it(`${rpc} is UNAUTHENTICATED and writes nothing`, async () => {
          const err = await expectRefused(call, metadataWith(header()), status.UNAUTHENTICATED, presented?.());
          expect(err.details).to.not.equal('');
        });
      }
    });
  }

  describe('a valid token on the other service', () => {
    for (const [rpc, call] of Object.entries(ADMIN_RPCS)) {
      it(`the ingest token on WebhookManagement.${rpc} is PERMISSION_DENIED`, () =>
        expectRefused(call, metadataOf(tokens.ingest, TENANT), status.PERMISSION_DENIED));
    }
    for (const [rpc, call] of Object.entries(INGEST_RPCS)) {
      it(`the admin token on EventIngest.${rpc} is PERMISSION_DENIED`, () =>
        expectRefused(call, metadataOf(tokens.admin), status.PERMISSION_DENIED));
    }
    it('the ingest token is PERMISSION_DENIED on WebhookManagement even without x-tenant-id', () =>
      expectRefused(ADMIN_RPCS.CreateWebhook!, metadataOf(tokens.ingest), status.PERMISSION_DENIED));
  });

  describe('the admin token without a usable x-tenant-id', () => {
    const cases: Array<[string, string | undefined]> = [
      ['no x-tenant-id', undefined],
      ['an empty x-tenant-id', ''],
      ['a malformed x-tenant-id', 'tenant/../other'],
    ];
    for (const [name, tenantId] of cases) {
      for (const [rpc, call] of Object.entries(ADMIN_RPCS)) {
        it(`${rpc} with ${name} is INVALID_ARGUMENT naming x-tenant-id`, async () => {
          const err = await expectRefused(call, metadataOf(tokens.admin, tenantId), status.INVALID_ARGUMENT);
          expect(err.details).to.match(/^x-tenant-id: /);
        });
      }
    }
  });

  describe('the right token on its own service', () => {
    it('accepts each token on its own service, on every RPC tried above', async () => {
      const before = await rowCounts();
      for (const call of Object.values(INGEST_RPCS)) await call(sidecar, metadataOf(tokens.ingest));
      for (const call of Object.values(ADMIN_RPCS)) await call(sidecar, metadataOf(tokens.admin, TENANT));
      // 1 + 2 + 1 events, one webhook; no webhook existed when they came, so no deliveries.
      expect(await rowCounts()).to.deep.equal([before[0]! + 1, before[1]! + 4, before[2]!]);
    });
  });
});
