/**
 * A stream's window: reading pauses at either bound (events or bytes waiting) and goes on only
 * when both are below their bounds again.
 */
import { expect } from 'chai';
import { EventIngestService, StreamEventsRequest } from '../../src/grpc/generated/webhooks/v1/ingest';
import { isUndecodable, lenientStreams, wireBytesOf } from '../../src/grpc/undecodable';
import { StreamWindow } from '../../src/ingest/stream-window';

describe('ingest/stream-window', () => {
  it('pauses at the event bound and goes on after one acknowledgement', () => {
    const w = new StreamWindow(3, 1_000_000);
    expect([w.add(10), w.add(10), w.add(10)]).to.deep.equal([false, false, true]);
    expect(w.remove(10)).to.equal(true);
  });

  it('pauses at the byte bound, however few events wait, and goes on once the bytes fall below it', () => {
    const w = new StreamWindow(1_024, 100_000);
    expect(w.add(60_000)).to.equal(false);
    expect(w.add(60_000)).to.equal(true);
    expect(w.add(1)).to.equal(true); // a message already in flight is still counted
    expect(w.remove(1)).to.equal(false);
    expect(w.remove(60_000)).to.equal(true);
  });

  it('counts each streamed message by its size on the wire, as the server decodes it', () => {
    const decode = lenientStreams(EventIngestService).streamEvents.requestDeserialize;
    const bytes = Buffer.from(StreamEventsRequest.encode(StreamEventsRequest.fromPartial({ event: { id: 'evt-1', tenantId: 'tenant-a', type: 'user.login', data: { user_id: 'u-1' } } })).finish());
    const message = decode(bytes);
    expect(isUndecodable(message)).to.equal(false);
    expect(wireBytesOf(message)).to.equal(bytes.length).and.to.be.greaterThan(20);
    expect(isUndecodable(decode(Buffer.from([0xff, 0xff, 0xff])))).to.equal(true);
  });
});
