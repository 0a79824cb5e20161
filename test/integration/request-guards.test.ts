/**
 * What a caller can make the server decode. Without a valid token, nothing: the call is refused
 * from its metadata, so a 7.7 MB message of tiny fields (which the generated decoders spend
 * seconds on) does not hold the event loop. With the admin token, at most 256 KiB: a larger
 * management request is refused from its length, RESOURCE_EXHAUSTED. The sidecar runs in this
 * process, so the event loop measured here is the server's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { MAX_MANAGEMENT_MESSAGE_BYTES } from '../../src/grpc/message-limits';
import { forEachDatabase } from '../support/databases';
import { metadataOf, rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';

/** The old code blocked 2.5-6 s on these messages; refused unread, the test process sees ~0.1 s. */
const MAX_BLOCK_MS = 500;
const TENANT = 'tenant-guards';

function varint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) bytes.push((n % 128) | 128);
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A length-delimited protobuf field. */
function field(num: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint(num * 8 + 2), varint(bytes.length), bytes]);
}

/** `count` copies of `unit`, without building `count` buffers. */
function repeated(unit: Buffer, count: number): Buffer {
  return Buffer.alloc(unit.length * count).fill(unit);
}

/**
 * PublishEventRequest whose event data is 550,000 map entries "k00000": null, "k00001": null...
 * (7.7 MB; distinct keys, as each new key costs the decoder more than a repeated one).
 */
function hugePublishEvent(): Buffer {
  const entries = 550_000;
  const entry = field(1, Buffer.concat([field(1, Buffer.from('k00000')), field(2, Buffer.from([0x08, 0x00]))]));
  const data = repeated(entry, entries);
  for (let i = 0; i < entries; i += 1) data.write(i.toString(36).padStart(5, '0'), i * entry.length + 5, 'latin1');
  const event = Buffer.concat([field(2, Buffer.from(TENANT)), field(3, Buffer.from('user.login')), field(6, data)]);
  return field(1, event);
}

/** CreateWebhookRequest with 1.9 million two-byte event_types (7.6 MB). */
function hugeCreateWebhook(): Buffer {
  return repeated(field(2, Buffer.from('ab')), 1_900_000);
}

interface Answer {
  readonly code: grpc.status | undefined;
  readonly details: string;
  /** The longest the event loop was held while the call ran. */
  readonly blockedMs: number;
}

forEachDatabase('request guards', (database) => {
  let sidecar: TestSidecar;
  let raw: grpc.Client;

  before(async () => {
    sidecar = await startSidecar(await database.create());
    raw = new grpc.Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    });
  });

  after(async () => {
    raw.close();
    await sidecar.stop();
  });

  function call(path: string, body: Buffer, metadata: grpc.Metadata): Promise<Answer> {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    return new Promise((resolve) => {
      raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, metadata, { deadline: Date.now() + 60_000 }, (err) => {
        histogram.disable();
        resolve({ code: err?.code, details: err?.details ?? '', blockedMs: histogram.max / 1e6 });
      });
    });
  }

  const cases = [
    { name: 'PublishEvent without a token', path: '/webhooks.v1.EventIngest/PublishEvent', body: hugePublishEvent, token: () => undefined, code: grpc.status.UNAUTHENTICATED },
    { name: 'PublishEvent with a wrong token', path: '/webhooks.v1.EventIngest/PublishEvent', body: hugePublishEvent, token: () => 'not-a-token-of-this-sidecar', code: grpc.status.UNAUTHENTICATED },
    { name: 'CreateWebhook without a token', path: '/webhooks.v1.WebhookManagement/CreateWebhook', body: hugeCreateWebhook, token: () => undefined, code: grpc.status.UNAUTHENTICATED },
    { name: 'CreateWebhook with the ingest token', path: '/webhooks.v1.WebhookManagement/CreateWebhook', body: hugeCreateWebhook, token: () => sidecar.config.tokens.ingest, code: grpc.status.PERMISSION_DENIED },
    { name: 'CreateWebhook with the admin token', path: '/webhooks.v1.WebhookManagement/CreateWebhook', body: hugeCreateWebhook, token: () => sidecar.config.tokens.admin, code: grpc.status.RESOURCE_EXHAUSTED },
  ];
  for (const c of cases) {
    it(`answers a 7.6 MB ${c.name} ${grpc.status[c.code]} without decoding it (event loop held < ${MAX_BLOCK_MS} ms)`, async function () {
      this.timeout(60_000);
      const body = c.body();
      const answer = await call(c.path, body, metadataOf(c.token(), TENANT));
      expect(answer.code, answer.details).to.equal(c.code);
      expect(answer.blockedMs, 'the longest event loop delay, ms').to.be.below(MAX_BLOCK_MS);
      const stored = (await sidecar.app.db('events').count({ n: '*' }).first()) as { n: number | string };
      expect(Number(stored.n)).to.equal(0);
    });
  }

  it(`refuses a management request over ${MAX_MANAGEMENT_MESSAGE_BYTES} bytes RESOURCE_EXHAUSTED, saying the limit, and writes nothing`, async () => {
    expect(MAX_MANAGEMENT_MESSAGE_BYTES).to.equal(256 * 1024);
    const admin = sidecar.admin(TENANT);
    const hook = { url: 'https://hooks.example.com/in', eventTypes: ['user.login'], organizationIds: [] };
    const err = await rejectionOf(admin.createWebhook({ ...hook, description: 'x'.repeat(MAX_MANAGEMENT_MESSAGE_BYTES) }));
    expect(err.code, err.details).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).to.match(/^the request is \d+ bytes, over the limit of 262144 for \/webhooks\.v1\.WebhookManagement\/CreateWebhook$/);
    expect((await admin.listWebhooks({ pageSize: 0, pageToken: '' })).webhooks).to.have.length(0);
  });

  it('takes SendTestEvent data within WEBHOOKS_MAX_EVENT_BYTES whose wire form is over 256 KiB', async () => {
    const admin = sidecar.admin(TENANT);
    const { webhook } = await admin.createWebhook({ url: 'http://127.0.0.1:9/in', eventTypes: ['user.login'], description: '', organizationIds: [] });
    // 30,000 zeros: about 60 KB of JSON (under the 64 KiB default), 11 bytes each on the wire.
    const { delivery } = await admin.sendTestEvent({ webhookId: webhook!.id, data: { zeros: new Array<number>(30_000).fill(0) } });
    expect(delivery!.webhookId).to.equal(webhook!.id);
  });
});
