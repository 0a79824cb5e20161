import { expect } from 'chai';
import { ClaimDepth, MAX_AHEAD, MIN_AHEAD, Pace, Paces } from '../../src/delivery/pace';
import { Places } from '../../src/delivery/places';

describe('delivery worker pace', () => {
  it('holds twice the slots until attempts are seen, and for attempts as slow as a quarter timeout', () => {
    const pace = new Pace(10_000);
    expect(pace.ahead).to.equal(MIN_AHEAD);
    pace.observe(10_000); // a timeout: a queued delivery could wait a whole timeout
    expect(pace.ahead).to.equal(2);
    const quarter = new Pace(10_000);
    quarter.observe(2_500); // the one queued behind it starts within half a timeout
    expect(quarter.ahead).to.equal(3);
  });

  it('holds as many slots as start within half a request timeout, up to the maximum', () => {
    const pace = new Pace(1_000);
    pace.observe(200); // 500 ms / 200 ms: two more rounds start in time
    expect(pace.ahead).to.equal(3);
    const fast = new Pace(15_000);
    fast.observe(3);
    expect(fast.ahead).to.equal(MAX_AHEAD);
  });

  it('falls back within a few attempts when a fast endpoint starts to hang', () => {
    const pace = new Pace(2_000);
    for (let i = 0; i < 20; i += 1) pace.observe(2);
    expect(pace.ahead).to.equal(MAX_AHEAD);
    const seen: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      pace.observe(2_000);
      seen.push(pace.ahead);
    }
    expect(seen.slice(0, 2), 'after one and two timeouts').to.deep.equal([3, 2]);
    expect(seen[4]).to.equal(MIN_AHEAD);
  });

  it('keeps a pace per webhook, for the most recently attempted ones', () => {
    const paces = new Paces(2_000, 2);
    paces.observe('wh_fast', 2);
    paces.observe('wh_slow', 1_900);
    expect([paces.ahead('wh_fast'), paces.ahead('wh_slow'), paces.ahead('wh_new')]).to.deep.equal([MAX_AHEAD, MIN_AHEAD, MIN_AHEAD]);
    paces.observe('wh_fast', 2); // wh_fast is now the most recent: wh_slow goes when wh_new comes
    paces.observe('wh_new', 2);
    expect([paces.ahead('wh_fast'), paces.ahead('wh_new')]).to.deep.equal([MAX_AHEAD, MAX_AHEAD]);
    paces.observe('wh_slow', 1); // forgotten, so its first attempt alone sets its pace
    expect(paces.ahead('wh_slow')).to.equal(MAX_AHEAD);
  });

  it("caps each webhook's places by its own pace", () => {
    const depth = new ClaimDepth(32, 2, 2_000); // 2 in flight per webhook
    const places = new Places((webhookId) => depth.capOf(webhookId));
    depth.observe('wh_fast', 2);
    depth.observe('wh_slow', 2_000);
    const claim = places.reserve();
    const took = (webhookId: string) => Array.from({ length: 20 }, () => claim.take(webhookId)).filter(Boolean).length;
    expect({ fast: took('wh_fast'), slow: took('wh_slow'), unseen: took('wh_unseen') }).to.deep.equal({ fast: 2 * MAX_AHEAD, slow: 4, unseen: 4 });
  });
});
