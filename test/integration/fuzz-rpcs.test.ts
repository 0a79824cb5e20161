/**
 * Property-based tests, on each database: random and malformed messages at every RPC, sent as raw
 * bytes through a real gRPC client. Each call gets a gRPC status (no hang, no crash); a message
 * that decodes is never answered INTERNAL or UNKNOWN (the handlers classify every input, so an
 * unexpected exception is a bug); a refused call writes nothing; a stream acknowledges every
 * message before the first undecodable one and then ends; and the server stays healthy.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import fc from 'fast-check';
import { forEachDatabase } from '../support/databases';
import { StreamEventsRequest } from '../../src/grpc/generated/webhooks/v1/ingest';
import { decodes, malformed, streamMessages, unaryRpcs, type Known, type RpcFuzz } from '../support/fuzz-arbitraries';
import { metadataOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

/** Well-formed and malformed cases per RPC; 15 RPCs × 150 keeps a database's run near 20 s. */
const WELL_FORMED_RUNS = 100;
const MALFORMED_RUNS = 50;
const CALL_DEADLINE_MS = 5_000;
const TENANT = 'tenant-fuzz';
const identity = (x: Buffer): Buffer => x;

interface Answer {
  readonly code: grpc.status;
  readonly details: string;
}

forEachDatabase('random and malformed messages at every RPC', (database) => {
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let raw: grpc.Client;
  let known: Known;

  before(async () => {
    // Random webhooks may name real hosts: every name resolves to a documentation address
    // (192.0.2.1, refused), so no delivery leaves the machine.
    sidecar = await startSidecar(await database.create(), {}, { resolver: () => Promise.resolve([{ address: '192.0.2.1', family: 4 }]) });
    receiver = await TestReceiver.start();
    raw = new grpc.Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure());
    const { webhook } = await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['*'], description: '', organizationIds: [] });
    await sidecar.ingest.publishEvent({ event: { id: 'evt-seed', tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-1' } } });
    const deliveries = await sidecar.admin(TENANT).listDeliveries({ webhookId: '', status: 0, startTime: undefined, endTime: undefined, pageSize: 0, pageToken: '' });
    known = { webhookId: webhook!.id, deliveryId: deliveries.deliveries[0]!.id, tenantId: TENANT };
  });

  after(async () => {
    raw.close();
    await sidecar.stop();
    await receiver.close();
  });

  function metadataFor(path: string): grpc.Metadata {
    const { ingest, admin } = sidecar.config.tokens;
    return path.includes('EventIngest') ? metadataOf(ingest) : metadataOf(admin, TENANT);
  }

  function call(path: string, bytes: Uint8Array): Promise<Answer> {
    return new Promise((resolve) => {
      raw.makeUnaryRequest(path, identity, identity, Buffer.from(bytes), metadataFor(path), { deadline: Date.now() + CALL_DEADLINE_MS }, (err) =>
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
      );
    });
  }

  /**
   * What any call could write: row counts, and every webhook column an RPC could change. The
   * worker delivering the seed events changes attempts and statuses, never these.
   */
  async function snapshot(): Promise<string> {
    const db = sidecar.app.db;
    const counts: number[] = [];
    for (const table of ['webhooks', 'webhook_stats', 'events', 'deliveries']) {
      counts.push(Number(((await db(table).count({ n: '*' }).first()) as { n: number | string }).n));
    }
    const hooks = await db('webhooks').select('id', 'url', 'event_types', 'description', 'enabled', 'organization_ids', 'secret_sealed', 'updated_at').orderBy('id');
    return JSON.stringify([counts, hooks]);
  }

  async function check(rpc: RpcFuzz, bytes: Uint8Array): Promise<void> {
    const before = await snapshot();
    const answer = await call(rpc.path, bytes);
    const shown = `${rpc.path} ${Buffer.from(bytes).toString('hex').slice(0, 200)} -> ${grpc.status[answer.code]} ${answer.details}`;
    expect(answer.code, shown).to.not.equal(grpc.status.DEADLINE_EXCEEDED);
    if (rpc.decodes(bytes)) expect([grpc.status.INTERNAL, grpc.status.UNKNOWN], shown).to.not.include(answer.code);
    if (answer.code !== grpc.status.OK) expect(await snapshot(), `a refused call wrote: ${shown}`).to.equal(before);
  }

  // DeleteWebhook last: once it hits the seeded webhook, calls naming it find nothing.
  for (const rpc of ['PublishEvent', 'PublishEvents', 'CreateWebhook', 'GetWebhook', 'ListWebhooks', 'UpdateWebhook',
    'RotateWebhookSecret', 'ListDeliveries', 'GetDelivery', 'RetryDelivery', 'RetryFailedDeliveries', 'SendTestEvent', 'GetWebhookStats',
    'ListEventTypes', 'DeleteWebhook']) {
    it(`${rpc}: answers every random and malformed message with a status, and writes nothing when it refuses`, async () => {
      const fuzz = unaryRpcs(known).find((r) => r.path.endsWith(`/${rpc}`))!;
      await fc.assert(fc.asyncProperty(fuzz.requests, (bytes) => check(fuzz, bytes)), { numRuns: WELL_FORMED_RUNS });
      await fc.assert(fc.asyncProperty(malformed(fuzz.requests), (bytes) => check(fuzz, bytes)), { numRuns: MALFORMED_RUNS });
    });
  }

  it('StreamEvents: acknowledges every message before the first undecodable one, then ends with a status', async () => {
    const path = '/webhooks.v1.EventIngest/StreamEvents';
    await fc.assert(
      fc.asyncProperty(streamMessages(known), async (messages) => {
        const firstBad = messages.findIndex((m) => !decodes(StreamEventsRequest, m));
        let acks = 0;
        const code = await new Promise<grpc.status>((resolve) => {
          const stream = raw.makeBidiStreamRequest(path, identity, identity, metadataFor(path), { deadline: Date.now() + CALL_DEADLINE_MS });
          stream.on('data', () => (acks += 1));
          stream.on('error', (err: grpc.ServiceError) => resolve(err.code));
          stream.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && resolve(s.code));
          for (const m of messages) stream.write(Buffer.from(m));
          stream.end();
        });
        expect(grpc.status[code]).to.equal(grpc.status[firstBad === -1 ? grpc.status.OK : grpc.status.INVALID_ARGUMENT]);
        expect(acks).to.equal(firstBad === -1 ? messages.length : firstBad);
      }),
      { numRuns: 60 },
    );
  });

  it('is still healthy and serving afterwards', async () => {
    const { webhooks } = await sidecar.admin(TENANT).listWebhooks({ pageSize: 0, pageToken: '' });
    expect(webhooks).to.be.an('array');
    await sidecar.ingest.publishEvent({ event: { id: 'evt-after', tenantId: 'tenant-after', type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: 'u-2' } } });
    await waitUntil(async () => (await sidecar.app.db('events').where({ id: 'evt-after' }).first()) !== undefined, 'the event after fuzzing');
  });
});
