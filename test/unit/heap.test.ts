/**
 * The sidecar's heap growth: with the limit main.ts sets, the old generation stays near its live
 * size under a load that promotes short-lived objects (as a backlog drain does); without it, V8
 * lets it grow to several times that. Each case runs in a child node, whose flags are its own.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { limitHeapGrowth } from '../../src/heap';

const run = promisify(execFile);
const HEAP_MODULE = path.resolve(__dirname, '../../src/heap.js');

/**
 * Keeps about 30 MB live, then allocates as a busy server does: mostly objects that die at once,
 * and 600 MB of records that each live for the next 20,000 (long enough to be promoted, as a
 * claimed row or a request under way is). Prints the old space's largest size in MB.
 */
const CHURN = `
const v8 = require('node:v8');
if (process.argv[1] === 'limit') require(${JSON.stringify(HEAP_MODULE)}).limitHeapGrowth();
const live = Array.from({ length: 30_000 }, (_, i) => ({ i, pad: 'x'.repeat(1_000) + i }));
const ring = new Array(20_000);
let peak = 0;
let sink = 0;
for (let i = 0; i < 600_000; i++) {
  ring[i % ring.length] = { i, s: 'y'.repeat(1_000) + i };
  for (let j = 0; j < 20; j++) sink += [i, j, 'z' + j].length;
  if (i % 1_000 === 0) {
    const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
    peak = Math.max(peak, old.space_size);
  }
}
if (live.length !== 30_000 || sink === 0) throw new Error('the live set is gone');
process.stdout.write(String(Math.round(peak / 1048576)));
`;

async function peakOldSpaceMb(mode: 'limit' | 'default'): Promise<number> {
  const { stdout } = await run(process.execPath, ['-e', CHURN, mode], { timeout: 60_000 });
  return Number(stdout);
}

describe('heap growth', function () {
  this.timeout(120_000);

  it('lets the old generation grow only 60% past the live set, where V8 alone lets it grow to twice that', async () => {
    const limited = await peakOldSpaceMb('limit');
    const unlimited = await peakOldSpaceMb('default');
    // Live: about 30 MB of records plus about 20 MB in the ring. Measured: 59 MB against 122.
    expect(limited, `limited ${limited} MB, V8's default ${unlimited} MB`).to.be.below(90);
    expect(unlimited, `limited ${limited} MB, V8's default ${unlimited} MB`).to.be.above(limited * 1.5);
  });

  it("leaves an operator's own --heap-growing-percent alone", () => {
    expect(limitHeapGrowth(['--heap-growing-percent=50'])).to.equal(false);
    expect(limitHeapGrowth(['--heap_growing_percent', '50'])).to.equal(false);
  });
});
