/**
 * Event data nested past MAX_DATA_DEPTH (32) objects and lists is INVALID_ARGUMENT naming the
 * field, on every RPC that takes data, and refuses only its own event: the other events of a
 * PublishEvents batch or a stream are stored. Past ~33 levels the generated decoders throw, and
 * grpc-js used to answer the whole call INTERNAL.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event, EventResult } from '../../src/grpc/generated/webhooks/v1/event';
import { MAX_DATA_DEPTH } from '../../src/grpc/data-depth';
import { forEachDatabase } from '../support/databases';
import { metadataOf, rejectionOf } from '../support/grpc-clients';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const TENANT = 'tenant-deep';
const TOO_DEEP = `is nested more than ${MAX_DATA_DEPTH} levels`;

/** `levels` levels of objects ({} is one), or of lists in the middle when `lists`. */
function nested(levels: number, lists = false): Record<string, unknown> {
  let value: unknown = lists ? [] : {};
  for (let i = 1; i < levels - 1; i += 1) value = lists ? [value] : { a: value };
  return levels > 1 ? { inner: value } : {};
}

/** A user.login event whose data is `levels` levels deep. */
function login(id: string, levels: number, lists = false): Event {
  const data = { ...nested(levels, lists), user_id: 'u-1' };
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data };
}

forEachDatabase('deep event data', (database) => {
  let sidecar: TestSidecar;

  before(async () => {
    sidecar = await startSidecar(await database.create());
  });

  after(() => sidecar.stop());

  async function storedIds(): Promise<string[]> {
    return (await sidecar.app.db('events').where('tenant_id', TENANT).orderBy('id').pluck('id')) as string[];
  }

  it(`takes data ${MAX_DATA_DEPTH} levels deep`, async () => {
    expect(MAX_DATA_DEPTH).to.equal(32);
    await sidecar.ingest.publishEvent({ event: login('deep-ok-objects', MAX_DATA_DEPTH) });
    await sidecar.ingest.publishEvent({ event: login('deep-ok-lists', MAX_DATA_DEPTH, true) });
    expect(await storedIds()).to.include.members(['deep-ok-lists', 'deep-ok-objects']);
  });

  for (const levels of [MAX_DATA_DEPTH + 1, 34, 40, 200]) {
    for (const lists of [false, true]) {
      it(`PublishEvent: refuses data ${levels} levels deep (${lists ? 'lists' : 'objects'}) as INVALID_ARGUMENT on event.data`, async () => {
        const id = `deep-unary-${levels}-${String(lists)}`;
        const err = await rejectionOf(sidecar.ingest.publishEvent({ event: login(id, levels, lists) }));
        expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
        expect(err.details).to.equal(`event.data: ${TOO_DEEP}`);
        expect(await storedIds()).to.not.include(id);
      });
    }
  }

  it('SendTestEvent: refuses data 40 levels deep as INVALID_ARGUMENT on data', async () => {
    const admin = sidecar.admin(TENANT);
    const { webhook } = await admin.createWebhook({ url: 'http://127.0.0.1:9/in', eventTypes: ['user.login'], description: '', organizationIds: [] });
    const err = await rejectionOf(admin.sendTestEvent({ webhookId: webhook!.id, data: nested(40) }));
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(`data: ${TOO_DEEP}`);
  });

  it('PublishEvents [good, deep, good]: stores the good ones, refuses the deep one with its own error', async () => {
    const events = [login('batch-good-1', 2), login('batch-deep', 40), login('batch-good-2', 2)];
    const { results } = await sidecar.ingest.publishEvents({ events });
    expect(results.map((r) => r.error?.code ?? status.OK)).to.deep.equal([status.OK, status.INVALID_ARGUMENT, status.OK]);
    expect(results[1]!.error!.message).to.equal(`events[1].data: ${TOO_DEEP}`);
    expect(results[1]!.eventId).to.equal('batch-deep');
    expect(await storedIds()).to.include.members(['batch-good-1', 'batch-good-2']).and.not.include('batch-deep');
  });

  it('StreamEvents [deep, good]: acknowledges the deep one with its error, stores the good one, ends OK', async () => {
    const results = await new Promise<EventResult[]>((resolve, reject) => {
      const call = sidecar.ingestClient.streamEvents(metadataOf(sidecar.config.tokens.ingest), { deadline: Date.now() + 10_000 });
      const acks: EventResult[] = [];
      call.on('data', (res: { result: EventResult }) => acks.push(res.result));
      call.on('error', reject);
      call.on('end', () => resolve(acks));
      call.write({ event: login('stream-deep', 40) });
      call.write({ event: login('stream-good', 2) });
      call.end();
    });
    expect(results.map((r) => r.eventId)).to.deep.equal(['stream-deep', 'stream-good']);
    expect(results[0]!.error).to.deep.equal({ code: status.INVALID_ARGUMENT, message: `event.data: ${TOO_DEEP}` });
    expect(results[1]!.error).to.equal(undefined);
    expect(await storedIds()).to.include('stream-good').and.not.include('stream-deep');
  });
});
