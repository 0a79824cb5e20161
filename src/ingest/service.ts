/** The EventIngest gRPC service: the identity core's door. */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { InputError, StoppingError } from '../errors';
import type { EventResult } from '../grpc/generated/webhooks/v1/event';
import type {
  EventIngestServer,
  PublishEventRequest,
  PublishEventsRequest,
  StreamEventsRequest,
  StreamEventsResponse,
} from '../grpc/generated/webhooks/v1/ingest';
import { SERVICE_ROLES } from '../grpc/auth';
import { bidi, unary, type HandlerDeps } from '../grpc/handlers';
import { MAX_RECEIVE_MESSAGE_BYTES } from '../grpc/server';
import { isUndecodable, wireBytesOf } from '../grpc/undecodable';
import { statusCodeOf, publicMessageOf } from '../grpc/status';
import type { Ingestor, Outcome } from './ingestor';
import { StreamWindow } from './stream-window';

/** Largest PublishEvents batch. */
export const MAX_BATCH = 1_000;
/**
 * Events of one stream being committed at once before the stream is paused (backpressure), and
 * their size on the wire: up to one PublishEvents call's worth. 1,024 events rather than 256
 * made one stream's commits bigger: 8,443 and 8,656 events/s against 7,898 and 8,101 (BENCHMARKS.md).
 */
const STREAM_WINDOW_EVENTS = 1_024;
const STREAM_WINDOW_BYTES = MAX_RECEIVE_MESSAGE_BYTES;

/**
 * The StreamEvents calls open in this process. The identity core keeps one open for good, so on
 * shutdown each stops reading, acknowledges the events it read once they are committed, and ends
 * UNAVAILABLE: what the core sent after those was not read, and it sends that again, to another
 * replica. (An OK end would read as "all processed" to a client that has not finished sending.)
 */
export class OpenStreams {
  private readonly closers = new Set<() => void>();

  add(close: () => void): () => void {
    this.closers.add(close);
    return () => void this.closers.delete(close);
  }

  closeAll(): void {
    for (const close of this.closers) close();
  }

  /** How many are open now. */
  get size(): number {
    return this.closers.size;
  }
}

export function ingestService(deps: HandlerDeps, ingestor: Ingestor, streams: OpenStreams): EventIngestServer {
  const roles = SERVICE_ROLES['webhooks.v1.EventIngest']!;
  return {
    publishEvent: unary(deps, 'PublishEvent', roles, async (req: PublishEventRequest) => {
      const [outcome] = await ingestor.publish([req.event], () => 'event');
      if (outcome!.error) throw outcome!.error;
      return { result: toResult(outcome!, req.event?.id) };
    }),
    publishEvents: unary(deps, 'PublishEvents', roles, async (req: PublishEventsRequest) => {
      if (req.events.length === 0) throw new InputError('events', 'must hold at least one event');
      if (req.events.length > MAX_BATCH) {
        throw new InputError('events', `must hold at most ${MAX_BATCH} events, got ${req.events.length}`);
      }
      const outcomes = await ingestor.publish(req.events, (i) => `events[${i}]`);
      return { results: outcomes.map((o, i) => toResult(o, req.events[i]?.id)) };
    }),
    streamEvents: bidi(deps, 'StreamEvents', roles, (call) => streamEvents(call, ingestor, streams)),
  };
}

/**
 * Acknowledges each event after its commit, in the order the events came. Each event goes to the
 * group committer as soon as it is read, so the events of one stream share commits;
 * acknowledgements are written in arrival order. When the window is full (STREAM_WINDOW_EVENTS
 * or STREAM_WINDOW_BYTES waiting), reading pauses and gRPC flow control pushes back on the client.
 */
function streamEvents(
  call: ServerDuplexStream<StreamEventsRequest, StreamEventsResponse>,
  ingestor: Ingestor,
  streams: OpenStreams,
): Promise<void> {
  let forget = (): void => undefined;
  const done = new Promise<void>((resolve, reject) => {
    let chain = Promise.resolve();
    const window = new StreamWindow(STREAM_WINDOW_EVENTS, STREAM_WINDOW_BYTES);
    let closing = false;
    let cancelled = false;
    let clientDone = false;
    forget = streams.add(() => {
      closing = true;
      call.pause();
      const stopped = (): void =>
        clientDone
          ? resolve()
          : reject(new StoppingError('the server is stopping; events not acknowledged were not stored: send them again'));
      chain.then(stopped, reject);
    });
    call.on('data', (req: StreamEventsRequest) => {
      if (closing) return; // not acknowledged, so the core sends it again elsewhere
      if (isUndecodable(req)) {
        // The events before it are acknowledged; then the stream ends, naming the problem.
        closing = true;
        call.pause();
        chain.then(() => reject(new InputError('StreamEventsRequest', 'a message could not be decoded; the stream ends here')), reject);
        return;
      }
      const bytes = wireBytesOf(req);
      if (window.add(bytes)) call.pause();
      const published = ingestor.publish([req.event], () => 'event');
      // Handled where the chain awaits it; without this an early failure would count as an
      // unhandled rejection (which ends a Node 20 process) until the chain gets there.
      published.catch(() => undefined);
      chain = chain.then(async () => {
        const [outcome] = await published;
        if (cancelled) return; // no one is listening; its commit stands, and a resend is a duplicate
        call.write({ result: toResult(outcome!, req.event?.id) });
        if (window.remove(bytes) && !closing) call.resume();
      });
      chain.catch(reject);
    });
    call.on('end', () => {
      clientDone = true;
      chain.then(resolve, reject);
    });
    call.on('error', reject);
    // When a client cancels (or its connection drops), grpc-js emits 'cancelled' and destroys the
    // stream: one whose reading is paused then never emits 'end' (nor 'error'), and the call
    // would never end. Nothing more can be written to it, so the call is over now; the commits
    // under way still finish, unacknowledged.
    const abandon = (): void => {
      closing = true;
      cancelled = true;
      resolve();
    };
    call.on('cancelled', abandon);
    call.on('close', abandon);
  });
  return done.finally(forget);
}

/** A refused event's result carries the id it was sent with (empty when it had none). */
function toResult(outcome: Outcome, requestedId: string | undefined): EventResult {
  if (outcome.error) {
    return {
      eventId: requestedId ?? '',
      duplicate: false,
      deliveryCount: 0,
      error: { code: statusCodeOf(outcome.error), message: publicMessageOf(outcome.error) },
    };
  }
  return {
    eventId: outcome.ok.eventId,
    duplicate: outcome.ok.duplicate,
    deliveryCount: outcome.ok.deliveryCount,
    error: undefined,
  };
}
