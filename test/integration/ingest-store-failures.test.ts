/**
 * A commit that fails on each database: its calls answer OK with an UNAVAILABLE result per event,
 * so the gRPC edge never sees the failure; ingest logs it, once per failed commit, without the
 * events' contents. The failure is made by renaming the events table away.
 */
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { createLogger } from '../../src/telemetry/logger';
import { forEachDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { MemoryLog } from '../support/memory-log';
import { startSidecar, type TestSidecar } from '../support/sidecar';

const TENANT = 'tenant-failing';
/** In every event's data: it must appear in no log line. */
const MARKER = 'payload-marker-7f3a';
const FAILED = 'storing events failed';

function login(id: string): Event {
  return { id, tenantId: TENANT, type: 'user.login', occurredAt: undefined, organizationId: '', data: { user_id: MARKER } };
}

forEachDatabase('ingest: a failed commit', (database) => {
  let sidecar: TestSidecar;
  let log: MemoryLog;

  before(async () => {
    log = new MemoryLog();
    sidecar = await startSidecar(await database.create(), {}, { logger: createLogger('info', log) });
    await sidecar.app.db.schema.renameTable('events', 'events_away');
  });

  after(() => sidecar.stop());

  it('answers UNAVAILABLE per event and logs the cause once per commit, not per event, without payloads', async () => {
    const { results } = await sidecar.ingest.publishEvents({ events: [login('evt-1'), login('evt-2'), login('evt-3')] });
    expect(results.map((r) => r.error?.code)).to.deep.equal([status.UNAVAILABLE, status.UNAVAILABLE, status.UNAVAILABLE]);
    expect(log.messages(FAILED)).to.have.length(1);

    // A single event's failure is the call's status (which the gRPC edge logs as well).
    const err = await rejectionOf(sidecar.ingest.publishEvent({ event: login('evt-4') }));
    expect(err.code).to.equal(status.UNAVAILABLE);
    const lines = log.messages(FAILED);
    expect(lines).to.have.length(2);
    for (const line of lines) {
      expect(line.level, 'logged as an error').to.equal(50);
      expect((line.error as { message: string }).message).to.match(/events/);
    }
    expect(log.text).to.not.include(MARKER);
  });
});
