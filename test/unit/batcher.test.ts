/**
 * The Batcher's gathering (src/db/batcher.ts): without gatherMs the first submission after a quiet
 * moment is written on the next turn of the event loop; with it, that submission waits for company,
 * so submissions a few turns apart share one write (the recorder's, for an event's deliveries).
 * A write holds at most maxWeight of weight and maxBytes of size, and with minSpacingMs writes start
 * at least that far apart.
 */
import { expect } from 'chai';
import { Batcher } from '../../src/db/batcher';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Three submissions, each in its own turn of the event loop; returns the writes' sizes and what each got. */
async function submitApart(gatherMs: number | undefined): Promise<{ writes: number[]; results: string[] }> {
  const writes: number[] = [];
  const batcher = new Batcher<string, string>(
    async (items) => {
      writes.push(items.length);
      await nextTurn();
      return items.map((item) => `${item} written`);
    },
    { maxWeight: 100, gatherMs },
  );
  const pending: Array<Promise<string>> = [];
  for (const item of ['a', 'b', 'c']) {
    pending.push(batcher.submit(item));
    await nextTurn();
  }
  return { writes, results: await Promise.all(pending) };
}

describe('Batcher', () => {
  it('without gatherMs, writes a first submission on the next turn, without waiting for the others', async () => {
    const { writes, results } = await submitApart(undefined);
    expect(writes[0]).to.equal(1);
    expect(writes.reduce((a, b) => a + b, 0)).to.equal(3);
    expect(results).to.deep.equal(['a written', 'b written', 'c written']);
  });

  it('with gatherMs, puts submissions a few turns apart in one write, and settles each after it', async () => {
    const { writes, results } = await submitApart(50);
    expect(writes).to.deep.equal([3]);
    expect(results).to.deep.equal(['a written', 'b written', 'c written']);
  });

  it('bounds a write by maxBytes as well as maxWeight, a single larger submission going alone', async () => {
    const writes: string[][] = [];
    const batcher = new Batcher<string, string>(
      async (items) => {
        writes.push([...items]);
        await nextTurn();
        return items.map((item) => `${item} written`);
      },
      { maxWeight: 100, maxBytes: 10, sizeOf: (item) => item.length },
    );
    const items = ['aaaa', 'bbbb', 'cccc', 'dddddddddddd', 'ee', 'ff'];
    const results = await Promise.all(items.map((item) => batcher.submit(item)));
    expect(writes).to.deep.equal([['aaaa', 'bbbb'], ['cccc'], ['dddddddddddd'], ['ee', 'ff']]);
    expect(results).to.deep.equal(items.map((item) => `${item} written`));
  });

  it('with minSpacingMs, starts a write no sooner than that after the last one started, with all that arrived meanwhile', async () => {
    const starts: number[] = [];
    const writes: number[] = [];
    const batcher = new Batcher<number, number>(
      async (items) => {
        starts.push(performance.now());
        writes.push(items.length);
        await nextTurn(); // a write far faster than the spacing
        return items.map((item) => item * 2);
      },
      { maxWeight: 100, minSpacingMs: 40 },
    );
    const pending: Array<Promise<number>> = [];
    // One submission every few ms for about 120 ms: without the spacing, nearly each its own write.
    for (let i = 0; i < 30; i++) {
      pending.push(batcher.submit(i));
      await new Promise((resolve) => setTimeout(resolve, 4));
    }
    const results = await Promise.all(pending);
    expect(results).to.deep.equal(Array.from({ length: 30 }, (_, i) => i * 2));
    expect(writes.reduce((a, b) => a + b, 0)).to.equal(30);
    // Timers may fire up to a millisecond early by performance.now().
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!, `write ${i}`).to.be.at.least(38);
    expect(writes.length, `writes of ${writes.join(', ')}`).to.be.at.most(6);
  });
});
