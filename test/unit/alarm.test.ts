/** The worker loop's wait (src/delivery/alarm.ts): a wake-up ends it early, the timer otherwise. */
import { expect } from 'chai';
import { Alarm } from '../../src/delivery/alarm';

describe('alarm', () => {
  it('ends a sleep at a wake-up, long before its timer', async () => {
    const alarm = new Alarm();
    const started = Date.now();
    const sleeping = alarm.sleep(60_000);
    setImmediate(() => alarm.wake());
    await sleeping;
    expect(Date.now() - started).to.be.below(30_000);
  });

  it('ends a sleep at its timer when nobody wakes it, and a later wake-up does nothing', async () => {
    const alarm = new Alarm();
    let ended = false;
    await alarm.sleep(5).then(() => (ended = true));
    expect(ended).to.equal(true);
    alarm.wake();
    // A wake-up before the next sleep does not cut that one short.
    const next = alarm.sleep(20).then(() => 'timer');
    expect(await Promise.race([next, new Promise((r) => setTimeout(() => r('still asleep'), 5))])).to.equal('still asleep');
    expect(await next).to.equal('timer');
  });
});
