import { expect } from 'chai';
import { createLogger } from '../../src/telemetry/logger';
import { OutageLog } from '../../src/telemetry/outage-log';
import { MemoryLog } from '../support/memory-log';

describe('OutageLog', () => {
  function setup() {
    const log = new MemoryLog();
    let now = 1_000_000;
    const outage = new OutageLog(createLogger('debug', log), 'claiming deliveries', () => now);
    const levels = () => log.messages('claiming deliveries').map((l) => `${String(l.level)} ${String(l.msg).split(';')[0]}`);
    return { log, outage, levels, advance: (ms: number) => (now += ms) };
  }

  it('warns when failures start, debugs the repeats, and reminds once a minute', () => {
    const { outage, levels, advance } = setup();
    for (let i = 0; i < 5; i++) {
      outage.failed(new Error('connect ECONNREFUSED'));
      advance(1_000);
    }
    expect(levels()).to.deep.equal(['40 claiming deliveries failed', ...Array<string>(4).fill('20 claiming deliveries failed again')]);
    advance(60_000);
    outage.failed(new Error('connect ECONNREFUSED'));
    expect(levels().at(-1)).to.equal('40 claiming deliveries failed');
  });

  it('says once when it works again, with how many tries failed and for how long', () => {
    const { log, outage, advance } = setup();
    outage.succeeded();
    expect(log.lines).to.have.length(0);
    outage.failed(new Error('down'));
    advance(2_500);
    outage.failed(new Error('down'));
    outage.succeeded();
    outage.succeeded();
    const recovered = log.messages('claiming deliveries works again');
    expect(recovered).to.have.length(1);
    expect(recovered[0]).to.include({ level: 30, failures: 2, failedForMs: 2_500 });
    // A new outage starts a new count, with a warning again.
    outage.failed(new Error('down'));
    expect(log.messages('claiming deliveries failed').map((l) => l.level)).to.deep.equal([40, 20, 40]);
  });
});
