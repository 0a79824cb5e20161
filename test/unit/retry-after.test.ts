import { expect } from 'chai';
import { afterFailure, parseRetryAfter, retryDelayMs, RETRY_AFTER_CAP_MS } from '../../src/delivery/retry-schedule';

describe('Retry-After', () => {
  const now = Date.parse('2026-11-27T12:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).to.equal(120_000);
    expect(parseRetryAfter(' 0 ', now)).to.equal(0);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(parseRetryAfter('Fri, 27 Nov 2026 12:01:30 GMT', now)).to.equal(90_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 11:00:00 GMT', now)).to.equal(0);
  });

  it('ignores an absent or unreadable header', () => {
    expect(parseRetryAfter(undefined, now)).to.equal(undefined);
    expect(parseRetryAfter('soon', now)).to.equal(undefined);
    expect(parseRetryAfter('-5', now)).to.equal(undefined);
  });

  it('pushes a retry later than the schedule, within the cap', () => {
    const half = () => 0.5;
    const scheduled = retryDelayMs(1, 100, half);
    const later = afterFailure(1, 3, 100, now, half, 5_000);
    expect(later).to.deep.equal({ status: 'pending', nextAttemptAt: now + 5_000 });
    const capped = afterFailure(1, 3, 100, now, half, 10 * RETRY_AFTER_CAP_MS);
    expect(capped).to.deep.equal({ status: 'pending', nextAttemptAt: now + RETRY_AFTER_CAP_MS });
    const sooner = afterFailure(1, 3, 100, now, half, 1);
    expect(sooner).to.deep.equal({ status: 'pending', nextAttemptAt: now + scheduled });
  });

  it('does not add retries beyond the maximum', () => {
    expect(afterFailure(4, 3, 100, now, () => 0.5, 1_000)).to.deep.equal({ status: 'failed' });
  });
});
