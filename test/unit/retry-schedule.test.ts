/** The retry schedule: exponential growth by 4, ±20% jitter, a one-day cap, and when to give up. */
import { expect } from 'chai';
import {
  afterFailure,
  BACKOFF_FACTOR,
  JITTER,
  MAX_DELAY_MS,
  retryDelayMs,
} from '../../src/delivery/retry-schedule';

const BASE = 30_000;
const NOW = Date.parse('2026-11-27T10:00:00.000Z');
const middle = () => 0.5;
const lowest = () => 0;
const highest = () => 1;

describe('delivery/retry-schedule', () => {
  describe('retryDelayMs', () => {
    it('documents a factor of 4 and a jitter of 20%', () => {
      expect(BACKOFF_FACTOR).to.equal(4);
      expect(JITTER).to.equal(0.2);
      expect(MAX_DELAY_MS).to.equal(86_400_000);
    });

    it('waits base, 4x and 16x base for retries 1, 2 and 3 at random=0.5', () => {
      expect(retryDelayMs(1, BASE, middle)).to.equal(30_000);
      expect(retryDelayMs(2, BASE, middle)).to.equal(120_000);
      expect(retryDelayMs(3, BASE, middle)).to.equal(480_000);
      expect(retryDelayMs(1, 100, middle)).to.equal(100);
      expect(retryDelayMs(4, 100, middle)).to.equal(6_400);
    });

    it('jitters down to 80% at random=0 and up to 120% at random=1', () => {
      expect(retryDelayMs(1, BASE, lowest)).to.equal(24_000);
      expect(retryDelayMs(1, BASE, highest)).to.equal(36_000);
      expect(retryDelayMs(2, BASE, lowest)).to.equal(96_000);
      expect(retryDelayMs(2, BASE, highest)).to.equal(144_000);
      expect(retryDelayMs(3, 1_000, lowest)).to.equal(12_800);
      expect(retryDelayMs(3, 1_000, highest)).to.equal(19_200);
    });

    it('stays within ±20% of the exact delay for any random value in [0, 1)', () => {
      for (let retry = 1; retry <= 6; retry++) {
        const exact = BASE * 4 ** (retry - 1);
        for (let i = 0; i < 100; i++) {
          const r = i / 100;
          const delay = retryDelayMs(retry, BASE, () => r);
          expect(delay, `retry ${retry}, random ${r}`).to.be.within(Math.floor(exact * 0.8), Math.ceil(exact * 1.2));
        }
      }
    });

    it('uses the random value monotonically: a larger draw never waits less', () => {
      let previous = 0;
      for (let i = 0; i <= 10; i++) {
        const delay = retryDelayMs(2, BASE, () => i / 10);
        expect(delay).to.be.at.least(previous);
        previous = delay;
      }
      expect(previous).to.be.greaterThan(retryDelayMs(2, BASE, lowest));
    });

    it('grows with each retry, even from the top of one jitter band to the bottom of the next', () => {
      for (let retry = 1; retry < 6; retry++) {
        const thisHighest = retryDelayMs(retry, BASE, highest);
        const nextLowest = retryDelayMs(retry + 1, BASE, lowest);
        expect(nextLowest, `retry ${retry + 1}`).to.be.greaterThan(thisHighest);
      }
    });

    it('never waits longer than MAX_DELAY_MS, whatever the base, retry or random value', () => {
      // 30 s * 4^6 = 34 h, already past the one-day cap.
      expect(retryDelayMs(7, BASE, middle)).to.equal(MAX_DELAY_MS);
      expect(retryDelayMs(7, BASE, highest)).to.equal(MAX_DELAY_MS);
      expect(retryDelayMs(50, BASE, highest)).to.equal(MAX_DELAY_MS);
      expect(retryDelayMs(1_000, BASE, middle)).to.equal(MAX_DELAY_MS);
      expect(retryDelayMs(1, 86_400_000, highest)).to.equal(MAX_DELAY_MS);
      for (const random of [lowest, middle, highest]) {
        const delay = retryDelayMs(40, 86_400_000, random);
        expect(delay).to.be.at.most(MAX_DELAY_MS);
        expect(delay).to.be.at.least(MAX_DELAY_MS * 0.8);
      }
    });

    it('is a whole number of at least 1 ms', () => {
      expect(retryDelayMs(1, 1, lowest)).to.equal(1);
      for (const r of [0, 0.123, 0.5, 0.777, 0.999]) {
        expect(Number.isInteger(retryDelayMs(2, 333, () => r))).to.equal(true);
      }
    });
  });

  describe('afterFailure', () => {
    it('schedules retry n at now + retryDelayMs(n) while attemptsMade <= maxRetries', () => {
      const maxRetries = 3;
      for (let attemptsMade = 1; attemptsMade <= maxRetries; attemptsMade++) {
        const step = afterFailure(attemptsMade, maxRetries, BASE, NOW, middle);
        expect(step, `after attempt ${attemptsMade}`).to.deep.equal({
          status: 'pending',
          nextAttemptAt: NOW + retryDelayMs(attemptsMade, BASE, middle),
        });
      }
      expect(afterFailure(1, maxRetries, BASE, NOW, middle)).to.deep.equal({ status: 'pending', nextAttemptAt: NOW + 30_000 });
      expect(afterFailure(3, maxRetries, BASE, NOW, middle)).to.deep.equal({ status: 'pending', nextAttemptAt: NOW + 480_000 });
    });

    it('passes the random source through to the jitter', () => {
      expect(afterFailure(1, 3, BASE, NOW, lowest)).to.deep.equal({ status: 'pending', nextAttemptAt: NOW + 24_000 });
      expect(afterFailure(2, 3, BASE, NOW, highest)).to.deep.equal({ status: 'pending', nextAttemptAt: NOW + 144_000 });
    });

    it('gives up after 1 + maxRetries attempts', () => {
      expect(afterFailure(4, 3, BASE, NOW, middle)).to.deep.equal({ status: 'failed' });
      expect(afterFailure(5, 3, BASE, NOW, middle)).to.deep.equal({ status: 'failed' });
      expect(afterFailure(51, 50, BASE, NOW, middle)).to.deep.equal({ status: 'failed' });
      expect(afterFailure(50, 50, BASE, NOW, middle).status).to.equal('pending');
    });

    it('gives up after the first attempt when maxRetries is 0', () => {
      expect(afterFailure(1, 0, BASE, NOW, middle)).to.deep.equal({ status: 'failed' });
    });

    it('makes exactly 1 + maxRetries attempts in a simulated run', () => {
      for (const maxRetries of [0, 1, 3, 10]) {
        let attempts = 0;
        let now = NOW;
        for (;;) {
          attempts++;
          const step = afterFailure(attempts, maxRetries, BASE, now, middle);
          if (step.status === 'failed') break;
          expect(step.nextAttemptAt).to.be.greaterThan(now);
          now = step.nextAttemptAt;
        }
        expect(attempts, `maxRetries ${maxRetries}`).to.equal(1 + maxRetries);
      }
    });

    it('keeps the default schedule within the documented ~30 s, 2 min, 8 min', () => {
      const waits = [1, 2, 3].map((n) => {
        const step = afterFailure(n, 3, BASE, NOW, middle);
        return step.status === 'pending' ? step.nextAttemptAt - NOW : -1;
      });
      expect(waits).to.deep.equal([30_000, 120_000, 480_000]);
    });
  });
});
