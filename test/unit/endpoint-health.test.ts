import { expect } from 'chai';
import type { AttemptResult } from '../../src/delivery/attempt';
import { disableReason } from '../../src/delivery/endpoint-health';

describe('endpoint health', () => {
  const now = Date.parse('2026-11-27T12:00:00Z');
  const policy = { disableAfterFailures: 5, disableAfterMs: 3_600_000 };
  const failed = (statusCode: number | null): AttemptResult => ({
    startedAt: now,
    durationMs: 5,
    statusCode,
    responseBody: null,
    responseHeaders: {},
    errorClass: statusCode === null ? 'timeout' : 'http_status',
    errorMessage: 'failed',
  });

  it('disables at once on 410 Gone', () => {
    expect(disableReason(failed(410), { consecutiveFailures: 1, failingSince: now }, policy, now)).to.match(/410 Gone/);
  });

  it('keeps a webhook whose streak is long but recent', () => {
    expect(disableReason(failed(500), { consecutiveFailures: 50, failingSince: now - 60_000 }, policy, now)).to.equal(
      undefined,
    );
  });

  it('keeps a webhook whose streak is old but short', () => {
    expect(disableReason(failed(500), { consecutiveFailures: 4, failingSince: now - 7_200_000 }, policy, now)).to.equal(
      undefined,
    );
  });

  it('disables when the streak is long enough in count and in time, and says so', () => {
    const reason = disableReason(failed(null), { consecutiveFailures: 5, failingSince: now - 3_600_000 }, policy, now);
    expect(reason).to.equal('5 consecutive failed attempts since 2026-11-27T11:00:00.000Z');
  });

  it('never disables on the streak when the count threshold is 0', () => {
    const off = { disableAfterFailures: 0, disableAfterMs: 0 };
    expect(disableReason(failed(500), { consecutiveFailures: 1_000, failingSince: 0 }, off, now)).to.equal(undefined);
  });
});
