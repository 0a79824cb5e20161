import { expect } from 'chai';
import type { Knex } from 'knex';
import { PROCESS_CLOCK } from '../../src/db/db-clock';
import type { AttemptResult } from '../../src/delivery/attempt';
import type { DeliverDeps } from '../../src/delivery/deliver';
import type { HttpSender } from '../../src/delivery/http-sender';
import { SendStage, type SendOptions } from '../../src/delivery/send-stage';
import type { ClaimedDelivery } from '../../src/outbox/claim';
import type { AttemptRecorder } from '../../src/outbox/recorder';
import type { SecretBox } from '../../src/security/secret-box';
import type { Logger } from '../../src/telemetry/logger';
import { waitUntil } from '../support/wait';

/** A knex stand-in that takes abandon()'s fenced update and does nothing. */
const fakeDb = (() => ({ where: () => ({ update: () => Promise.resolve(1) }) })) as unknown as Knex;
const quietLogger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const ok: AttemptResult = {
  startedAt: 0,
  durationMs: 1,
  statusCode: 200,
  responseBody: '',
  responseHeaders: {},
  errorClass: null,
  errorMessage: null,
};
const deps: DeliverDeps = {
  db: fakeDb,
  sender: { send: () => Promise.resolve(ok) } as unknown as HttpSender,
  secrets: {} as SecretBox,
  logger: quietLogger,
  clock: PROCESS_CLOCK,
  recorder: { record: () => Promise.resolve({ kept: true }) } as unknown as AttemptRecorder,
};
const options: SendOptions = {
  concurrency: 2,
  maxInFlightPerWebhook: 8,
  maxInFlightPerTenant: 8,
  maxRetries: 3,
  retryBaseMs: 1_000,
  disableAfterFailures: 0,
  disableAfterMs: 0,
};

function orphan(n: number): ClaimedDelivery {
  return {
    id: `msg_${n}`,
    claimId: 'claim',
    tenantId: 'acme',
    webhookId: `wh_${n}`,
    eventId: `ev_${n}`,
    eventType: 'user.login',
    attemptCount: 0,
    payload: '{}',
    traceContext: null,
    leaseExpiresAt: Date.now() + 31_000,
    leaseExpired: false,
    webhook: null, // deleted after the delivery was written
  };
}

describe('delivery send stage', () => {
  it('frees the slot of a delivery whose webhook is gone, though it ends inside launch()', async () => {
    let freed = 0;
    let recorded = 0;
    const stage = new SendStage(deps, options, () => freed++, () => recorded++);
    for (let n = 1; n <= 3; n++) stage.launch(orphan(n));
    await waitUntil(() => recorded === 3, 'three abandoned deliveries written');
    expect(freed).to.equal(3);
    expect(stage.size, 'POSTs under way').to.equal(0);
    expect(stage.mayLaunch('wh_9', 'acme'), 'a slot is free for another webhook').to.equal(true);
  });
});
