import { expect } from 'chai';
import { DbClock, offsetOf, WARN_OFFSET_MS } from '../../src/db/db-clock';
import { createLogger } from '../../src/telemetry/logger';
import { MemoryLog } from '../support/memory-log';
import { waitUntil } from '../support/wait';

const WARNING = "this process's clock disagrees";

describe('DbClock: the database clock as an offset from the process clock', () => {
  const clocks: DbClock[] = [];
  afterEach(() => clocks.splice(0).forEach((c) => c.stop()));

  function clockReading(read: () => Promise<number>, log?: MemoryLog, refreshMs?: number, retryMs?: number): DbClock {
    const clock = new DbClock(read, { logger: log && createLogger('info', log), refreshMs, retryMs });
    clocks.push(clock);
    return clock;
  }

  it('takes the middle of the shortest round trip, with half of it as the error', () => {
    const { offsetMs, errorMs } = offsetOf([
      { before: 1_000, dbMs: 31_100, after: 1_200 }, // 200 ms round trip
      { before: 2_000, dbMs: 32_010, after: 2_020 }, // 20 ms: the tightest bound
      { before: 3_000, dbMs: 33_500, after: 3_100 },
    ]);
    expect(offsetMs).to.equal(30_000);
    expect(errorMs).to.equal(10);
  });

  it('reads as the database does, ahead or behind, once started', async () => {
    for (const skew of [30_000, -45_000]) {
      const clock = clockReading(() => Promise.resolve(Date.now() + skew));
      expect(Math.abs(clock.now() - Date.now())).to.be.below(50); // before the first measurement
      await clock.start();
      expect(clock.now() - Date.now()).to.be.within(skew - 50, skew + 50);
      expect(clock.offset.offsetMs).to.be.within(skew - 50, skew + 50);
    }
  });

  it('warns once when the offset exceeds a second, and not below it', async () => {
    let skew = WARN_OFFSET_MS / 2;
    const log = new MemoryLog();
    const clock = clockReading(() => Promise.resolve(Date.now() + skew), log);
    await clock.measure();
    expect(log.messages(WARNING)).to.have.length(0);
    skew = 5_000;
    await clock.measure();
    await clock.measure();
    const warnings = log.messages(WARNING);
    expect(warnings).to.have.length(1);
    expect(warnings[0]!.offsetMs).to.be.within(4_950, 5_050);
  });

  it('refreshes in the background, and keeps the last offset when a read fails', async () => {
    let skew = 10_000;
    let failing = false;
    let reads = 0;
    const log = new MemoryLog();
    const read = (): Promise<number> => {
      reads++;
      return failing ? Promise.reject(new Error('connection lost')) : Promise.resolve(Date.now() + skew);
    };
    const clock = clockReading(read, log, 50, 20);
    await clock.start();
    skew = 20_000; // the database's clock was stepped
    await waitUntil(() => Math.abs(clock.offset.offsetMs - 20_000) < 50, 'the refreshed offset');
    failing = true;
    const before = reads;
    await waitUntil(() => reads >= before + 3, 'retries after failed reads');
    expect(clock.offset.offsetMs).to.be.within(19_950, 20_050);
    expect(log.messages('reading the database clock failed').length).to.be.above(0);
    failing = false;
    skew = 0;
    await waitUntil(() => Math.abs(clock.offset.offsetMs) < 50, 'the offset after the database is back');
  });

  it('fails to start when the database cannot be read', async () => {
    const clock = clockReading(() => Promise.reject(new Error('no database')));
    let error: unknown;
    await clock.start().catch((err: unknown) => (error = err));
    expect((error as Error).message).to.equal('no database');
  });
});
