/**
 * The gRPC ceiling: an EventIngest server that decodes each call and answers at once, touching
 * no database. The bench runs it as a child process, exactly as it runs the sidecar.
 */
import * as grpc from '@grpc/grpc-js';
import { EventIngestService, type EventIngestServer } from '../src/grpc/generated/webhooks/v1/ingest';

const result = (eventId: string) => ({ eventId, duplicate: false, deliveryCount: 3, error: undefined });

const service: EventIngestServer = {
  publishEvent: (call, callback) => callback(null, { result: result(call.request.event?.id ?? '') }),
  publishEvents: (call, callback) => callback(null, { results: call.request.events.map((e) => result(e.id)) }),
  streamEvents: (call) => {
    call.on('data', (req: { event?: { id: string } }) => call.write({ result: result(req.event?.id ?? '') }));
    call.on('end', () => call.end());
  },
};

const server = new grpc.Server();
server.addService(EventIngestService, service);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(JSON.stringify({ msg: 'webhooks sidecar started', port }) + '\n');
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
