/**
 * Tracing end to end, as an operator with a collector sees it. The sidecar runs as a child
 * process (the SDK is configured once per process, by its OTEL_* variables) exporting OTLP/HTTP
 * JSON to a stand-in collector. One login event, sent with the identity core's traceparent, goes
 * to a webhook that fails the first attempt and takes the retry. The trace must hold: the gRPC
 * server span continuing the caller's span, the webhook.ingest span whose traceparent the event
 * row stores, one webhook.deliver span per attempt (siblings under the ingest span, linked to it,
 * with ids, attempt number, status code and error class), the undici HTTP span under each attempt
 * whose traceparent the receiver got, and the knex spans of the commit. No span carries the
 * payload, the signing secret or the URL's path; log lines written in an attempt carry its ids.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Db } from '../../src/db/connect';
import type { Event } from '../../src/grpc/generated/webhooks/v1/event';
import { forEachDatabase } from '../support/databases';
import { ingestClient, metadataOf } from '../support/grpc-clients';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { MAIN, openDb, processEnv, startProcessSidecar, stopProcessSidecars } from '../support/process-sidecar';
import { TestReceiver } from '../support/receiver';

const TENANT = 'tenant-traced';
const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 };

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

forEachDatabase('e2e: traces from the caller through every attempt', (database) => {
  let collector: OtlpReceiver | undefined;
  let receiver: TestReceiver | undefined;
  let db: Db | undefined;

  afterEach(async () => {
    await stopProcessSidecars();
    await receiver?.close();
    await collector?.close();
    await db?.destroy();
    db = undefined;
  });

  it('joins the caller trace: ingest span, one linked attempt span per attempt, the receiver traceparent', async function () {
    this.timeout(90_000);
    const dbUrl = await database.create();
    collector = await OtlpReceiver.start();
    receiver = await TestReceiver.start();
    receiver.respondWith((_req, index) => (index === 0 ? { status: 500, body: 'down' } : { status: 200, body: 'ok' }));
    const sidecar = await startProcessSidecar(
      processEnv(dbUrl, {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        WEBHOOKS_LOG_LEVEL: 'debug',
      }),
    );
    const created = await sidecar.admin(TENANT).createWebhook({
      url: receiver.url, eventTypes: ['user.login'], description: 'traced', organizationIds: [],
    });

    // The identity core's own span, sampled.
    const callerTrace = hex(16);
    const callerSpan = hex(8);
    const marker = `marker-${hex(8)}`;
    const event: Event = {
      id: `evt-${hex(4)}`, tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '',
      data: { user_id: marker },
    };
    const metadata = metadataOf(sidecar.env.WEBHOOKS_INGEST_TOKEN);
    metadata.set('traceparent', `00-${callerTrace}-${callerSpan}-01`);
    const client = ingestClient(sidecar.port);
    try {
      await new Promise((resolve, reject) =>
        client.publishEvent({ event }, metadata, (err: grpc.ServiceError | null, res) => (err ? reject(err) : resolve(res))),
      );
    } finally {
      client.close();
    }

    const requests = await receiver.waitForRequests(2, 15_000);
    const deliverSpans = (): ReceivedSpan[] =>
      collector!.inTrace(callerTrace).filter((s) => s.name === 'webhook.deliver');
    await collector.waitForSpans(
      () => deliverSpans().length >= 2 && collector!.inTrace(callerTrace).filter((s) => s.name === 'POST').length >= 2,
      'both attempt spans and their HTTP spans',
    );
    const spans = collector.inTrace(callerTrace);

    // gRPC server span: a child of the caller's span.
    const server = spans.filter((s) => s.name === 'grpc.webhooks.v1.EventIngest/PublishEvent');
    expect(server, 'one PublishEvent server span in the caller trace').to.have.length(1);
    expect(server[0]).to.include({ parentSpanId: callerSpan, kind: SPAN_KIND.SERVER, serviceName: 'webhooks-sidecar' });

    // webhook.ingest under it, and its traceparent stored with the event.
    const ingest = spans.filter((s) => s.name === 'webhook.ingest');
    expect(ingest).to.have.length(1);
    expect(ingest[0]!.parentSpanId).to.equal(server[0]!.spanId);
    expect(ingest[0]!.attributes).to.include({
      'webhook.event.id': event.id, 'webhook.tenant.id': TENANT, 'webhook.event.type': 'user.login', 'webhook.events.created': 1,
    });
    db = openDb(dbUrl);
    // With the body, in event_payloads on this new database (WEBHOOKS_EVENT_BODIES=auto).
    const row = (await db('events as e')
      .join('event_payloads as p', 'p.id', 'e.payload_id')
      .where({ 'e.tenant_id': TENANT, 'e.id': event.id })
      .first('p.trace_context')) as { trace_context: string };
    expect(row.trace_context).to.equal(`00-${callerTrace}-${ingest[0]!.spanId}-01`);

    // The commit's queries, from the knex instrumentation, inside the trace.
    expect(spans.filter((s) => s.kind === SPAN_KIND.CLIENT && s.name !== 'POST').length, 'knex spans').to.be.greaterThan(0);
    // The event's insert among them, prepared statement or not (src/db/transaction.ts).
    expect(spans.filter((s) => s.kind === SPAN_KIND.CLIENT && /^insert .*\.events$/.test(s.name)), 'the events insert').to.have.length(1);

    // One attempt span per attempt: siblings under the ingest span, each linked to it.
    const deliveryId = String(requests[0]!.headers['webhook-id']);
    const attempts = deliverSpans().sort((a, b) => Number(a.attributes['webhook.attempt']) - Number(b.attributes['webhook.attempt']));
    expect(attempts).to.have.length(2);
    for (const span of attempts) {
      expect(span.parentSpanId, 'a child of the ingest span').to.equal(ingest[0]!.spanId);
      expect(span.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId }))).to.deep.equal([
        { traceId: callerTrace, spanId: ingest[0]!.spanId },
      ]);
      expect(span.attributes).to.include({
        'webhook.delivery.id': deliveryId,
        'webhook.id': created.webhook!.id,
        'webhook.tenant.id': TENANT,
        'webhook.event.id': event.id,
      });
    }
    expect(attempts[0]!.attributes).to.include({
      'webhook.attempt': 1, 'http.response.status_code': 500, 'error.type': 'http_status', 'webhook.outcome': 'retry_scheduled',
    });
    expect(attempts[0]!.statusCode, 'a failed attempt is an error span').to.equal(2);
    expect(attempts[1]!.attributes).to.include({ 'webhook.attempt': 2, 'http.response.status_code': 200, 'webhook.outcome': 'succeeded' });
    expect(attempts[1]!.attributes).to.not.have.property('error.type');

    // Each POST's traceparent names the HTTP span under that attempt, in the caller's trace.
    requests.slice(0, 2).forEach((request, i) => {
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(request.headers.traceparent));
      expect(match, `traceparent of request ${i}: ${request.headers.traceparent}`).to.not.equal(null);
      expect(match![1]).to.equal(callerTrace);
      const http = spans.find((s) => s.spanId === match![2]);
      expect(http, 'the span the receiver was given').to.not.equal(undefined);
      expect(http).to.include({ name: 'POST', kind: SPAN_KIND.CLIENT, parentSpanId: attempts[i]!.spanId });
      expect(http!.attributes['url.full']).to.not.include('/hooks');
    });

    // Nothing of the payload, the secret or the URL's path in any span of the run.
    const everything = JSON.stringify(collector.spans);
    expect(everything).to.not.include(marker);
    expect(everything).to.not.include(created.secret);
    expect(everything).to.not.include('/hooks');
    expect(collector.rejected).to.deep.equal([]);

    // Log lines of an attempt carry its span.
    await sidecar.waitFor(() => sidecar.logged('attempt succeeded').length > 0, '"attempt succeeded"');
    const failed = sidecar.logged('attempt failed');
    expect(failed).to.have.length(1);
    expect(failed[0]).to.include({ trace_id: callerTrace, span_id: attempts[0]!.spanId });
    expect(sidecar.logged('attempt succeeded')[0]).to.include({ trace_id: callerTrace, span_id: attempts[1]!.spanId });
    expect(sidecar.stdout).to.not.include(marker);
  });

  it('records nothing with OTEL_TRACES_EXPORTER=none, yet still sends receivers an unsampled traceparent', async function () {
    this.timeout(60_000);
    collector = await OtlpReceiver.start();
    receiver = await TestReceiver.start();
    const sidecar = await startProcessSidecar(
      processEnv(await database.create(), {
        OTEL_TRACES_EXPORTER: 'none',
        // An endpoint alone would turn tracing on; "none" wins.
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        WEBHOOKS_LOG_LEVEL: 'debug',
      }),
    );
    await sidecar.admin(TENANT).createWebhook({ url: receiver.url, eventTypes: ['user.login'], description: '', organizationIds: [] });
    const metadata = metadataOf(sidecar.env.WEBHOOKS_INGEST_TOKEN);
    metadata.set('traceparent', `00-${hex(16)}-${hex(8)}-01`);
    const client = ingestClient(sidecar.port);
    try {
      await new Promise((resolve, reject) =>
        client.publishEvent(
          { event: { id: 'untraced', tenantId: TENANT, type: 'user.login', occurredAt: new Date(), organizationId: '', data: { user_id: 'u' } } },
          metadata,
          (err: grpc.ServiceError | null, res) => (err ? reject(err) : resolve(res)),
        ),
      );
    } finally {
      client.close();
    }
    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers.traceparent).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    await sidecar.waitFor(() => sidecar.logged('attempt succeeded').length > 0, '"attempt succeeded"');
    // A running SDK would export whatever it holds on shutdown: after the exit, nothing came.
    sidecar.closeClients();
    sidecar.kill('SIGTERM');
    expect(await sidecar.waitForExit(10_000)).to.deep.equal({ code: 0, signal: null });
    expect(collector.spans).to.deep.equal([]);
    expect(collector.rejected).to.deep.equal([]);
    expect(sidecar.logged('OpenTelemetry tracing on (configured by the OTEL_* variables)')).to.have.length(0);
    expect(sidecar.logs().filter((l) => 'trace_id' in l)).to.deep.equal([]);
    db = openDb(sidecar.env.WEBHOOKS_DB_URL!);
    const row = (await db('events').where({ id: 'untraced' }).first('trace_context')) as { trace_context: string | null };
    expect(row.trace_context).to.equal(null);
  });
});

describe('e2e: an OTEL_* value the tracing SDK does not know', () => {
  // Each ran before as "OpenTelemetry tracing on" and exported nothing, or fell back silently.
  for (const [name, value] of [
    ['OTEL_TRACES_EXPORTER', 'otlp-http'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'bogus'],
    ['OTEL_TRACES_SAMPLER', 'bogus'],
    ['OTEL_TRACES_SAMPLER_ARG', 'abc'],
  ] as const) {
    it(`${name}=${value} stops the process with status 2, naming it`, function () {
      this.timeout(30_000);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-otel-'));
      try {
        const env = { ...processEnv(`sqlite:${path.join(dir, 'webhooks.db')}`, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', [name]: value }), PATH: process.env.PATH };
        // SIGKILL: a process that started anyway must not hold the test up with its shutdown.
        const run = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' });
        expect(run.status, run.stderr).to.equal(2);
        expect(run.stderr).to.match(new RegExp(`^Invalid configuration: ${name}: `));
        expect(run.stdout).to.not.include('OpenTelemetry tracing on').and.not.include('webhooks sidecar started');
        expect(fs.existsSync(path.join(dir, 'credentials.json')), 'the refused start generated no credentials').to.equal(false);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
