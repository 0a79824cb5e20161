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

  it("caps each tenant's webhooks together, and a claim skips the webhooks of a full tenant", () => {
    const places = new Places(() => 4, () => 8);
    const claim = places.reserve();
    const took = (webhookId: string, tenantId: string, n: number) =>
      Array.from({ length: n }, () => claim.take(webhookId, tenantId)).filter(Boolean).length;
    expect([took('wh_a', 'evil', 4), took('wh_b', 'evil', 4), took('wh_c', 'evil', 2)], 'eight places for the tenant').to.deep.equal([4, 4, 0]);
    expect(took('wh_good', 'good', 1), 'another tenant is not held back').to.equal(1);
    claim.keep([...Array(4).fill({ webhookId: 'wh_a' }), ...Array(4).fill({ webhookId: 'wh_b' }), { webhookId: 'wh_good' }]);
    places.claimed(claim);
    expect(places.isTenantFull('evil')).to.equal(true);
    // wh_c was only seen, refused for its tenant: it is skipped too, though it holds nothing.
    expect(places.claimSkips().sort()).to.deep.equal(['wh_a', 'wh_b', 'wh_c']);
    // One attempt ends: its tenant overflowed the claim, so it waits for a quarter of its places.
    places.add('wh_a', -1, 'evil');
    expect(places.claimSkips().sort()).to.deep.equal(['wh_a', 'wh_b', 'wh_c']);
    places.add('wh_a', -1, 'evil');
    expect(places.claimSkips().sort(), 'wh_b is full on its own').to.deep.equal(['wh_b']);
    expect(places.reserve().take('wh_c', 'evil')).to.equal(true);
  });

  it('counts a tenant\'s places back when a reservation is given back', () => {
    const places = new Places(() => 8, () => 2);
    const handoff = places.reserve();
    expect([handoff.take('wh_a', 't'), handoff.take('wh_b', 't'), handoff.take('wh_b', 't')]).to.deep.equal([true, true, false]);
    handoff.release();
    expect(places.isTenantFull('t')).to.equal(false);
    expect(places.claimSkips()).to.deep.equal([]);
  });
});
