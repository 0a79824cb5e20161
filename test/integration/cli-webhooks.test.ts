/**
 * The operator CLI against a running sidecar (in-process, on SQLite; the CLI only speaks gRPC):
 * webhooks create/list/get/update/delete/rotate-secret, events publish (file, stdin, JSON Lines)
 * and types, health over gRPC and HTTP, and how failures end: exit 1 with the gRPC code for a
 * refused call, exit 2 with the usage for bad flags. Each result is checked through the API
 * itself, not only through what the CLI printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { cliEnv, runCli } from '../support/cli';
import { testDatabases, type TestDatabase } from '../support/databases';
import { rejectionOf } from '../support/grpc-clients';
import { TestReceiver } from '../support/receiver';
import { startSidecar, type TestSidecar } from '../support/sidecar';
import { waitUntil } from '../support/wait';

const TENANT = 'tenant-cli';

describe('cli: webhooks, events and health against a running sidecar', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let sidecar: TestSidecar;
  let receiver: TestReceiver;
  let env: Record<string, string | undefined>;
  let tmp: string;

  before(async () => {
    database = testDatabases()[0]!; // SQLite: what is tested here is the CLI, not the store
    sidecar = await startSidecar(await database.create());
    receiver = await TestReceiver.start();
    env = cliEnv(sidecar, TENANT);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webhooks-cli-'));
  });

  after(async () => {
    await sidecar?.stop();
    await receiver?.close();
    await database?.dropAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function createWebhook(...flags: string[]): Promise<{ id: string; secret: string }> {
    const res = await runCli(['webhooks', 'create', '--url', receiver.url, ...flags, '--json'], env);
    expect(res.code, res.stderr).to.equal(0);
    const parsed = JSON.parse(res.stdout) as { webhook: { id: string }; secret: string };
    return { id: parsed.webhook.id, secret: parsed.secret };
  }

  it('webhooks create prints the webhook and its secret once; the API has what the flags said', async () => {
    const res = await runCli(
      ['webhooks', 'create', '--url', receiver.url, '--event-type', 'user.login', '--event-type', 'security.*,mfa.enabled', '--description', 'from the CLI', '--org', 'org-1'],
      env,
    );
    expect(res.code, res.stderr).to.equal(0);
    const id = /^id:\s+(wh_\w+)$/m.exec(res.stdout)?.[1];
    expect(id, res.stdout).to.be.a('string');
    expect(res.stdout).to.match(/^secret:\s+whsec_[A-Za-z0-9+/=]+ {3}\(shown only now/m);
    const { webhook } = await sidecar.admin(TENANT).getWebhook({ id: id! });
    expect(webhook).to.include({ url: receiver.url, description: 'from the CLI', enabled: true });
    expect(webhook!.eventTypes).to.deep.equal(['user.login', 'security.*', 'mfa.enabled']);
    expect(webhook!.organizationIds).to.deep.equal(['org-1']);
  });

  it('webhooks list and get show the tenant\'s webhooks, as a table and as JSON', async () => {
    const { id } = await createWebhook('--event-type', 'user.logout', '--description', 'listed');
    const table = await runCli(['webhooks', 'list'], env);
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout.split('\n')[0]).to.match(/^ID\s+ENABLED\s+EVENT TYPES\s+URL\s+DESCRIPTION$/);
    expect(table.stdout).to.match(new RegExp(`^${id}\\s+yes\\s+user\\.logout\\s+\\S+\\s+listed$`, 'm'));
    const json = JSON.parse((await runCli(['webhooks', 'list', '--json'], env)).stdout) as { webhooks: Array<{ id: string }> };
    const { webhooks } = await sidecar.admin(TENANT).listWebhooks({ pageSize: 100, pageToken: '' });
    expect(json.webhooks.map((w) => w.id)).to.deep.equal(webhooks.map((w) => w.id));
    const got = JSON.parse((await runCli(['webhook', 'get', id, '--json'], env)).stdout) as { webhook: Record<string, unknown> };
    // Every field, defaults included (proto3 JSON would leave out organizationIds: [] and disabledReason: '').
    expect(got.webhook).to.include({ id, enabled: true, disabledReason: '', description: 'listed' });
    expect(got.webhook.organizationIds).to.deep.equal([]);
  });

  it('webhooks update changes only the fields given, and refuses to run with none', async () => {
    const { id } = await createWebhook('--event-type', 'user.login', '--description', 'before');
    const disabled = await runCli(['webhooks', 'update', id, '--disable', '--event-type', 'user.*'], env);
    expect(disabled.code, disabled.stderr).to.equal(0);
    let { webhook } = await sidecar.admin(TENANT).getWebhook({ id });
    expect(webhook).to.include({ enabled: false, description: 'before' });
    expect(webhook!.eventTypes).to.deep.equal(['user.*']);
    const enabled = await runCli(['webhooks', 'update', id, '--enable', '--description', 'after', '--org', 'o-1,o-2'], env);
    expect(enabled.code, enabled.stderr).to.equal(0);
    ({ webhook } = await sidecar.admin(TENANT).getWebhook({ id }));
    expect(webhook).to.include({ enabled: true, description: 'after' });
    expect(webhook!.organizationIds).to.deep.equal(['o-1', 'o-2']);
    const none = await runCli(['webhooks', 'update', id], env);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/^error: nothing to update/m).and.match(/^usage: webhooks-sidecar webhooks update WEBHOOK_ID/m);
  });

  it('webhooks update: an empty --org or --event-type is a usage error, never every organization or no type', async () => {
    const { id } = await createWebhook('--event-type', 'user.login', '--org', 'org-1', '--description', 'org-1 only');
    const ORG = ''; // an unset shell variable: --org "$ORG"
    for (const flags of [['--org', ORG], ['--org', ' , '], ['--org', 'org-2', '--org', ORG], ['--event-type', ORG]]) {
      const res = await runCli(['webhooks', 'update', id, ...flags, '--description', 'changed'], env);
      expect(res.code, flags.join(' ')).to.equal(2);
      expect(res.stderr).to.match(new RegExp(`^error: ${flags[flags.length - 2]}: given without a value`, 'm'));
    }
    const { webhook } = await sidecar.admin(TENANT).getWebhook({ id });
    expect(webhook).to.include({ description: 'org-1 only' });
    expect(webhook!.organizationIds).to.deep.equal(['org-1']);
    expect(webhook!.eventTypes).to.deep.equal(['user.login']);

    const refused = await runCli(['webhooks', 'update', id, '--org', ORG], env);
    expect(refused.stderr).to.match(/--all-orgs/);
    const widened = await runCli(['webhooks', 'update', id, '--all-orgs'], env);
    expect(widened.code, widened.stderr).to.equal(0);
    expect((await sidecar.admin(TENANT).getWebhook({ id })).webhook!.organizationIds).to.deep.equal([]);

    const before = (await sidecar.admin(TENANT).listWebhooks({ pageSize: 100, pageToken: '' })).webhooks.length;
    const create = await runCli(['webhooks', 'create', '--url', receiver.url, '--event-type', 'user.login', '--org', ORG], env);
    expect(create.code).to.equal(2);
    expect(create.stderr).to.match(/^error: --org: given without a value/m);
    expect((await sidecar.admin(TENANT).listWebhooks({ pageSize: 100, pageToken: '' })).webhooks).to.have.length(before);
  });

  it('webhooks rotate-secret: the next delivery verifies with the new secret', async () => {
    const { id } = await createWebhook('--event-type', 'user.password_changed');
    const res = await runCli(['webhooks', 'rotate-secret', id, '--json'], env);
    expect(res.code, res.stderr).to.equal(0);
    const { secret } = JSON.parse(res.stdout) as { secret: string };
    await sidecar.ingest.publishEvent({
      event: { id: 'evt-rotated', tenantId: TENANT, type: 'user.password_changed', occurredAt: undefined, organizationId: '', data: { user_id: 'u-9' } },
    });
    await waitUntil(() => receiver.requests.some((r) => r.body.includes('"evt-rotated"')), 'the delivery of evt-rotated');
    const req = receiver.requests.find((r) => r.body.includes('"evt-rotated"'));
    const headers = { 'webhook-id': String(req!.headers['webhook-id']), 'webhook-timestamp': String(req!.headers['webhook-timestamp']), 'webhook-signature': String(req!.headers['webhook-signature']) };
    expect(() => new StandardWebhook(secret).verify(req!.body, headers)).to.not.throw();
  });

  it('webhooks delete removes it; a second delete is NOT_FOUND with exit code 1', async () => {
    const { id } = await createWebhook('--event-type', 'user.deleted');
    const res = await runCli(['webhooks', 'delete', id], env);
    expect(res).to.include({ code: 0, stdout: `Deleted webhook ${id}.\n` });
    expect((await rejectionOf(sidecar.admin(TENANT).getWebhook({ id }))).code).to.equal(status.NOT_FOUND);
    const again = await runCli(['webhooks', 'delete', id], env);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^error: NOT_FOUND: /);
  });

  it('events publish takes one event from a file, JSON Lines from stdin, and reports refusals with exit code 1', async () => {
    const { secret } = await createWebhook('--event-type', 'session.created');
    const file = path.join(tmp, 'event.json');
    fs.writeFileSync(file, JSON.stringify({ id: 'evt-file', tenant_id: TENANT, type: 'session.created', data: { user_id: 'u-1', session_id: 's-1' } }));
    const one = await runCli(['events', 'publish', file, '--json'], env);
    expect(one.code, one.stderr).to.equal(0);
    expect(JSON.parse(one.stdout)).to.deep.equal({ results: [{ eventId: 'evt-file', duplicate: false, deliveryCount: 1 }] });

    // JSON Lines from stdin; --tenant fills in the tenant, and one event is refused.
    const lines = [
      { id: 'evt-stdin-1', type: 'session.created', data: { user_id: 'u-2', session_id: 's-2' } },
      { id: 'evt-stdin-2', type: 'session.created', data: {} },
      { id: 'evt-file', type: 'session.created', data: { user_id: 'u-1', session_id: 's-1' } },
    ].map((e) => JSON.stringify(e)).join('\n');
    const many = await runCli(['events', 'publish', '-', '--tenant', TENANT], { ...env, WEBHOOKS_TENANT: undefined }, lines);
    expect(many.code).to.equal(1);
    expect(many.stderr).to.equal('1 of 3 events refused\n');
    expect(many.stdout, many.stdout).to.match(/^evt-stdin-1\s+no\s+1\s+-$/m);
    // The server names the field; in a batch, with the event's place in it.
    expect(many.stdout, many.stdout).to.match(/^evt-stdin-2\s+-\s+-\s+events\[1\]\.data\.\w+: is required$/m);
    expect(many.stdout).to.match(/^evt-file\s+yes\s+1\s+-$/m);

    const ours = (): typeof receiver.requests => receiver.requests.filter((r) => /^\{"id":"evt-(file|stdin-1)"/.test(r.body));
    await waitUntil(() => ours().length >= 2, 'the deliveries of evt-file and evt-stdin-1');
    const bodies = ours().map((r) => new StandardWebhook(secret).verify(r.body, { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) }) as { id: string; tenant_id: string });
    expect(bodies.map((b) => b.id).sort()).to.deep.equal(['evt-file', 'evt-stdin-1']);
    expect(bodies.every((b) => b.tenant_id === TENANT)).to.equal(true);
    const bad = await runCli(['events', 'publish', '-'], env, '{not json');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^error: -: not valid JSON/);
  });

  it('events publish refuses an integer beyond 2^53 or a "__proto__" key (which it would send changed) as a usage error naming it', async () => {
    // JSON.parse would round 9007199254740993 to ...992, and the protobuf encoder drops "__proto__".
    const file = path.join(tmp, 'big.json');
    fs.writeFileSync(file, `{"id":"evt-big","tenant_id":"${TENANT}","type":"session.created","data":{"user_id":"u-1","session_id":"s-1","account_number":9007199254740993}}`);
    const big = await runCli(['events', 'publish', file], env);
    expect(big.code, big.stdout).to.equal(2);
    expect(big.stderr.startsWith(`error: ${file}: data.account_number: 9007199254740993 is beyond ±(2^53-1)`), big.stderr).to.equal(true);
    const proto = await runCli(['events', 'publish', '-'], env, '[{"id":"evt-proto-ok","type":"session.created","data":{"user_id":"u-1","session_id":"s-1"}},{"id":"evt-proto","type":"session.created","data":{"user_id":"u-1","session_id":"s-1","__proto__":{"x":1}}}]');
    expect(proto.code, proto.stdout).to.equal(2);
    expect(proto.stderr).to.match(/^error: -: event 2: data\.__proto__: a key named "__proto__" is not accepted\n/);
    expect(await sidecar.app.db('events').whereIn('id', ['evt-big', 'evt-proto-ok', 'evt-proto']).pluck('id')).to.deep.equal([]);
  });

  it('events types lists the catalog; --json carries each schema', async () => {
    const table = await runCli(['events', 'types'], env);
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^user\.login\s+user\s+\S/m).and.match(/^oauth\.token_revoked\s+oauth\s+\S/m);
    const json = JSON.parse((await runCli(['events', 'types', '--json'], env)).stdout) as { eventTypes: Array<{ name: string; schema: { required?: string[] } }> };
    expect(json.eventTypes.find((t) => t.name === 'user.login')?.schema.required).to.include('user_id');
  });

  it('health: SERVING over gRPC, 200 on /healthz and /readyz, exit 1 when nothing answers', async () => {
    const grpcOk = await runCli(['health'], { WEBHOOKS_GRPC_ADDR: `0.0.0.0:${sidecar.port}` });
    expect(grpcOk).to.include({ code: 0, stdout: `grpc://127.0.0.1:${sidecar.port}: SERVING\n` });
    const metrics = { WEBHOOKS_METRICS_ADDR: `0.0.0.0:${sidecar.app.metricsPort}` };
    const live = await runCli(['health', '--http'], metrics);
    expect(live.code, live.stdout + live.stderr).to.equal(0);
    expect(live.stdout).to.match(/\/healthz: 200 /);
    const ready = await runCli(['health', '--ready', '--json'], metrics);
    expect(ready.code).to.equal(0);
    expect(JSON.parse(ready.stdout)).to.include({ target: `http://127.0.0.1:${sidecar.app.metricsPort}/readyz`, healthy: true });
    const down = await runCli(['health', '--addr', '127.0.0.1:1', '--timeout', '2s'], {});
    expect(down.code).to.equal(1);
    expect(down.stderr).to.match(/^error: (UNAVAILABLE|DEADLINE_EXCEEDED): /);
  });

  it('--platform acts as the platform operator: its webhooks are invisible to the tenant, and it takes no --tenant', async () => {
    const res = await runCli(['webhooks', 'create', '--platform', '--url', receiver.url, '--event-type', 'user.login_failed', '--json'], { ...env, WEBHOOKS_TENANT: undefined });
    expect(res.code, res.stderr).to.equal(0);
    const { webhook } = JSON.parse(res.stdout) as { webhook: { id: string } };
    const platformList = await runCli(['webhooks', 'list', '--platform', '--json'], { ...env, WEBHOOKS_TENANT: undefined });
    expect((JSON.parse(platformList.stdout) as { webhooks: Array<{ id: string }> }).webhooks.map((w) => w.id)).to.deep.equal([webhook.id]);
    const tenantList = await runCli(['webhooks', 'list', '--json'], env);
    expect((JSON.parse(tenantList.stdout) as { webhooks: Array<{ id: string }> }).webhooks.map((w) => w.id)).to.not.include(webhook.id);
    const both = await runCli(['webhooks', 'list', '--platform', '--tenant', TENANT], env);
    expect(both.code).to.equal(2);
    expect(both.stderr).to.match(/--platform acts for no tenant/);
  });

  it('refusals: a wrong token is UNAUTHENTICATED (exit 1); no tenant, an unknown command or flag is a usage error (exit 2)', async () => {
    const wrong = await runCli(['webhooks', 'list', '--token', 'not-the-admin-token'], env);
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.match(/^error: UNAUTHENTICATED: /);
    const noTenant = await runCli(['webhooks', 'list'], { ...env, WEBHOOKS_TENANT: undefined });
    expect(noTenant.code).to.equal(2);
    expect(noTenant.stderr).to.match(/--tenant \(or WEBHOOKS_TENANT\) is required/);
    expect((await runCli(['webhooks', 'frobnicate'], env)).code).to.equal(2);
    const badFlag = await runCli(['webhooks', 'list', '--colour'], env);
    expect(badFlag.code).to.equal(2);
    expect(badFlag.stderr).to.match(/Unknown option '--colour'/);
    const help = await runCli(['--help'], {});
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/^ {2}deliveries tail\s/m).and.match(/^ {2}db reencrypt-secrets\s/m);
  });
});
