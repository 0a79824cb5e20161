/**
 * Dockerfile lint, since no Docker engine runs here: dockerfile-utils' validator (syntax, flags,
 * instruction arguments) plus the rules this image must keep: a pinned Node 20 slim base, a
 * numeric non-root USER, tini as PID 1, the ports the configuration listens on, a HEALTHCHECK,
 * no ADD from URLs, no secrets in ENV/ARG, and a .dockerignore that keeps data, .env and local
 * builds out of the build context.
 */
import { expect } from 'chai';
import { validate } from 'dockerfile-utils';
import { loadConfig } from '../../src/config';
import { lastOf, readDockerfile, readDockerignore, stepsOf, type ParsedDockerfile, type Stage } from '../support/dockerfile';

/** What an operator's MySQL-mode environment sets; everything else keeps its default. */
const MYSQL_ENV = {
  WEBHOOKS_DB_URL: 'mysql://u:p@db:3306/webhooks',
  WEBHOOKS_INGEST_TOKEN: 'ingest-token-0123456789',
  WEBHOOKS_ADMIN_TOKEN: 'admin-token-0123456789',
  WEBHOOKS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

describe('Dockerfile lint', () => {
  let df: ParsedDockerfile;
  let runtime: Stage;

  before(() => {
    df = readDockerfile();
    runtime = df.stages[df.stages.length - 1]!;
  });

  it('has no problems that dockerfile-utils finds', () => {
    const problems = validate(df.text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).to.deep.equal([]);
  });

  it('builds every stage on one pinned Node 20 slim image (major.minor, at least the engines minimum)', () => {
    expect(df.stages.length, 'a build stage and a runtime stage at least').to.be.greaterThanOrEqual(2);
    for (const stage of df.stages) {
      const match = /^node:20\.(\d+)(?:\.\d+)?-(bookworm|bullseye|trixie)-slim(@sha256:[0-9a-f]{64})?$/.exec(stage.image);
      expect(match, `${stage.name}: ${stage.image}`).to.not.equal(null);
      expect(Number(match![1]), 'package.json engines: node >=20.18.1').to.be.greaterThanOrEqual(18);
    }
    expect(new Set(df.stages.map((s) => s.image)).size, 'one base image for all stages').to.equal(1);
  });

  it('installs dependencies with npm ci and builds in a stage before the runtime one, which takes production dependencies only', () => {
    const build = df.stages[0]!;
    const runs = stepsOf(build, 'RUN').map((s) => s.content);
    expect(runs.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev')), 'npm ci with dev dependencies').to.equal(true);
    expect(runs.indexOf('npm run build')).to.be.greaterThan(-1);
    expect(runs.some((r) => /^npm (prune|ci)\b.*--omit=dev/.test(r)), 'dev dependencies dropped').to.equal(true);
    const copies = stepsOf(runtime, 'COPY');
    const fromBuild = copies.filter((c) => c.flags.from === build.name).map((c) => c.args[0]);
    expect(fromBuild).to.include.members(['/app/node_modules', '/app/dist/src', '/app/dist/db', '/app/proto']);
    expect(copies.filter((c) => c.flags.from === undefined), 'the runtime stage copies nothing from the context').to.deep.equal([]);
  });

  it('runs as a numeric unprivileged user, under tini, with NODE_ENV=production', () => {
    const user = lastOf(runtime, 'USER');
    expect(user?.args[0], 'USER uid:gid').to.match(/^\d+(:\d+)?$/);
    expect(Number(user!.args[0]!.split(':')[0])).to.be.greaterThan(0);
    const userIndex = runtime.steps.indexOf(user!);
    expect(runtime.steps.slice(userIndex).filter((s) => s.keyword === 'RUN'), 'no RUN after USER').to.deep.equal([]);
    expect(lastOf(runtime, 'ENTRYPOINT')?.exec).to.deep.equal(['/usr/bin/tini', '--']);
    expect(stepsOf(runtime, 'RUN').some((r) => /apt-get install -y --no-install-recommends .*\btini\b/.test(r.content))).to.equal(true);
    expect(lastOf(runtime, 'CMD')?.exec).to.deep.equal(['node', 'dist/src/main.js']);
    expect(stepsOf(runtime, 'ENV').map((e) => e.content)).to.include('NODE_ENV=production');
  });

  it('exposes the gRPC and metrics ports the configuration listens on by default', () => {
    const { config } = loadConfig(MYSQL_ENV);
    const ports = [config.grpcAddr, config.metricsAddr].map((a) => a.slice(a.lastIndexOf(':') + 1));
    expect(ports).to.deep.equal(['50051', '9464']);
    expect(stepsOf(runtime, 'EXPOSE').flatMap((e) => e.args)).to.have.members(ports);
  });

  it('has a HEALTHCHECK in exec form that runs the CLI health check on /healthz', () => {
    const check = lastOf(runtime, 'HEALTHCHECK');
    expect(check, 'HEALTHCHECK').to.not.equal(undefined);
    expect(check!.exec?.slice(0, 4)).to.deep.equal(['node', 'dist/src/cli/main.js', 'health', '--http']);
    // Docker kills a check that runs past --timeout: the CLI's own deadline must be shorter.
    expect(parseSeconds(check!.flags.timeout ?? '30s')).to.be.greaterThan(parseSeconds(check!.exec![check!.exec!.indexOf('--timeout') + 1]!));
  });

  it('keeps apt lean: --no-install-recommends and the package lists removed in the same layer', () => {
    for (const run of df.all.filter((s) => s.keyword === 'RUN' && s.content.includes('apt-get install'))) {
      expect(run.content, `line ${run.line}`).to.include('--no-install-recommends').and.include('rm -rf /var/lib/apt/lists/*');
    }
  });

  it('bakes in no secrets and fetches nothing with ADD', () => {
    expect(df.all.filter((s) => s.keyword === 'ADD').map((s) => `line ${s.line}: ${s.content}`), 'ADD (use COPY)').to.deep.equal([]);
    const secretish = /TOKEN|SECRET|PASSWORD|PASSWD|ENCRYPTION_KEY|API_KEY|WEBHOOKS_DB_URL|credentials/i;
    const offenders = df.all.filter((s) => ['ENV', 'ARG', 'LABEL'].includes(s.keyword) && secretish.test(s.content));
    expect(offenders.map((s) => `line ${s.line}: ${s.keyword} ${s.content}`)).to.deep.equal([]);
    expect(df.text).to.not.match(/whsec_|Bearer /);
    const copied = df.all.filter((s) => s.keyword === 'COPY').flatMap((s) => s.args.slice(0, -1));
    expect(copied.filter((src) => /(^|\/)(data|\.env|\.git|node_modules)(\/|$)/.test(src) && !src.startsWith('/app/node_modules'))).to.deep.equal([]);
  });

  it('has a .dockerignore that keeps secrets, data and local builds out of the context', () => {
    const patterns = readDockerignore();
    expect(patterns).to.include.members(['.git', '.env', 'node_modules', 'dist', 'data']);
    // test/support/dockerfile.ts matches only these two forms; anything else needs a real matcher.
    expect(patterns.filter((p) => !/^[\w.-]+$/.test(p) && !/^\*\.\w+$/.test(p)), 'patterns beyond names and *.ext').to.deep.equal([]);
  });
});

function parseSeconds(value: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2] ?? 's']!;
}
