/**
 * WebhookViews (src/delivery/webhook-views.ts): a queued delivery is sent only from a recent view
 * of its webhook. On a database slower than REFRESH_MS, a refresh used to come back already too
 * old to use, and the worker read again and again and sent nothing. And what it keeps of changed
 * webhooks must not outlive the leases it serves: it used to keep every webhook ever changed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseDbUrl } from '../../src/config/db-url';
import { connect, type Db } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { REFRESH_MS, WebhookViews } from '../../src/delivery/webhook-views';
import type { ClaimedDelivery } from '../../src/outbox/claim';
import { waitUntil } from '../support/wait';

const LEASE_MS = 31_000;

describe('WebhookViews', () => {
  let db: Db;
  let dir: string;
  const realNow = Date.now;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhook-views-'));
    db = connect(parseDbUrl(`sqlite:${path.join(dir, 'webhooks.db')}`));
    await migrateLatest(db);
    await db('webhooks').insert({
      id: 'wh_1', tenant_id: 't', url: 'https://new.example.com/', description: '', event_types: '["*"]',
      organization_ids: null, enabled: true, secret_sealed: 'sealed-new', created_at: 1, updated_at: 1,
    });
  });
  afterEach(async () => {
    Date.now = realNow;
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A delivery claimed at `claimedAt`, carrying the webhook as the claim read it then. */
  const queued = (claimedAt: number): ClaimedDelivery => ({
    id: 'dlv_1', claimId: 'c', tenantId: 't', webhookId: 'wh_1', eventId: 'e', eventType: 'user.login', attemptCount: 0,
    payload: '{}', traceContext: null, leaseExpiresAt: claimedAt + LEASE_MS, leaseExpired: false,
    webhook: { url: 'https://old.example.com/', secretSealed: 'sealed-old', previousSecretSealed: null, previousSecretExpiresAt: null, olderSecretsSealed: null, enabled: true },
  });

  it("sends from the claim's own view within REFRESH_MS of the claim, and asks for a read after", () => {
    const views = new WebhookViews(db, LEASE_MS);
    const delivery = queued(10_000);
    expect(views.viewFor(delivery, 10_000 + REFRESH_MS)?.url).to.equal('https://old.example.com/');
    expect(views.viewFor(delivery, 10_001 + REFRESH_MS)).to.equal(undefined);
  });

  it('uses a fresh read, and one that took longer than REFRESH_MS, rather than reading forever', async () => {
    const views = new WebhookViews(db, LEASE_MS);
    const claimedAt = realNow() - 5_000;
    const delivery = queued(claimedAt);
    // The read begins now and, by the clock, ends 1.5 s later: a database that slow.
    const start = realNow();
    let calls = 0;
    Date.now = () => (calls++ === 0 ? start : start + 1_500);
    await views.refresh([delivery]);
    Date.now = realNow;
    expect(views.viewFor(delivery, start + 1_500 + 5)?.url, 'right after the slow read').to.equal('https://new.example.com/');
    expect(views.viewFor(delivery, start + 1_500 + REFRESH_MS)?.url).to.equal('https://new.example.com/');
    expect(views.viewFor(delivery, start + 1_501 + REFRESH_MS), 'REFRESH_MS after its read ended').to.equal(undefined);
  });

  it('forgets changes once no lease can need them, with no refresh to prune them, and still honours a new one at once', async () => {
    // A replica without backlog: webhooks created and deleted through it, nothing queued, so no
    // refresh ever runs. A short lease, so that forgetting is quick to see.
    const leaseMs = 100;
    const views = new WebhookViews(db, leaseMs);
    for (let i = 0; i < 2_000; i++) views.changed(`wh_gone_${i}`);
    expect(views.size).to.equal(2_000);
    await waitUntil(() => views.size === 0, 'the changes to be forgotten a lease later', 5_000);

    // A change made now still holds back a delivery claimed before it, at once.
    const claimedAt = Date.now() - 10;
    const delivery: ClaimedDelivery = { ...queued(claimedAt), leaseExpiresAt: claimedAt + leaseMs };
    expect(views.viewFor(delivery, claimedAt + 10)?.url, 'before the change').to.equal('https://old.example.com/');
    views.changed('wh_1');
    expect(views.viewFor(delivery, Date.now()), 'right after the change').to.equal(undefined);
    expect(views.size).to.equal(1);
    await waitUntil(() => views.size === 0, 'that change to be forgotten too', 5_000);
  });
});
