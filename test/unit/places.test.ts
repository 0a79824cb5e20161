import { expect } from 'chai';
import { Places } from '../../src/delivery/places';

describe('delivery worker places', () => {
  it('caps each webhook, and a claim query is told which webhooks are full', () => {
    const places = new Places(() => 2);
    const claim = places.reserve();
    expect([claim.take('wh_a'), claim.take('wh_a'), claim.take('wh_a'), claim.take('wh_b')]).to.deep.equal([true, true, false, true]);
    expect(claim.size).to.equal(3);
    expect(places.full()).to.deep.equal(['wh_a']);
  });

  it('keeps the places of what was claimed and gives back the rest', () => {
    const places = new Places(() => 2);
    const claim = places.reserve();
    claim.take('wh_a');
    claim.take('wh_a');
    claim.take('wh_b');
    claim.keep([{ webhookId: 'wh_a' }]); // one wh_a row was claimed; the others were not
    expect(claim.size).to.equal(0);
    expect(places.isFull('wh_a'), 'one wh_a place held').to.equal(false);
    const next = places.reserve();
    expect([next.take('wh_a'), next.take('wh_a')]).to.deep.equal([true, false]);
    expect([next.take('wh_b'), next.take('wh_b'), next.take('wh_b')]).to.deep.equal([true, true, false]);
  });

  it('gives back everything when the transaction is rolled back, and takes nothing when not allowed', () => {
    const places = new Places(() => 1);
    const handoff = places.reserve();
    handoff.take('wh_a');
    handoff.release();
    expect(places.full()).to.deep.equal([]);
    let open = true;
    const gated = places.reserve(() => open);
    expect(gated.take('wh_a')).to.equal(true);
    open = false;
    expect(gated.take('wh_b')).to.equal(false);
    expect(gated.size).to.equal(1);
  });

  it('frees a held place when its delivery is sent out', () => {
    const places = new Places(() => 1);
    const claim = places.reserve();
    claim.take('wh_a');
    claim.keep([{ webhookId: 'wh_a' }]);
    expect(places.isFull('wh_a')).to.equal(true);
    places.add('wh_a', -1);
    expect(places.isFull('wh_a')).to.equal(false);
  });
});
