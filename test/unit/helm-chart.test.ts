/**
 * The Helm chart rendered with its default values (plus the secrets every install must give),
 * by the in-process renderer of test/support/helm (no helm binary is reachable here). Every
 * document must parse as YAML, and the workload must carry what the issue asks: probes, the
 * migration hook, resources, a restrictive security context, rolling updates, and every
 * configuration variable of the sidecar, wired so that the sidecar's own parser accepts it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../src/config';
import { renderChart, type Rendered } from '../support/helm/chart';
import { RenderError } from '../support/helm/functions';
import { all, at, containerOf, one, podEnv, render, REQUIRED_SECRETS, ROOT, theChart, type AnyManifest } from '../support/helm/fixtures';
import { lastOf, readDockerfile } from '../support/dockerfile';

/** Every WEBHOOKS_* name that src/config reads, and every one README's configuration table lists. */
function configurationVariables(): string[] {
  const dir = path.join(ROOT, 'src', 'config');
  const fromSource = fs.readdirSync(dir).flatMap((f) => [...fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/'(WEBHOOKS_[A-Z0-9_]+)'/g)].map((m) => m[1]!));
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5));
  const fromReadme = [...table.matchAll(/^\| `(WEBHOOKS_[A-Z0-9_]+)`/gm)].map((m) => m[1]!);
  return [...new Set([...fromSource, ...fromReadme])].sort();
}

describe('Helm chart: default values', () => {
  let rendered: Rendered;
  let deployment: AnyManifest;

  before(() => {
    rendered = render();
    deployment = one(rendered, 'Deployment');
  });

  it('refuses to render without the database URL, the tokens and the encryption key, naming each value', () => {
    const missing = (secrets: Record<string, string>): string => {
      try {
        renderChart(theChart(), { secrets });
      } catch (err) {
        if (err instanceof RenderError) return err.message;
        throw err;
      }
      return 'rendered';
    };
    expect(missing({})).to.match(/secrets\.dbUrl is required/);
    expect(missing({ dbUrl: REQUIRED_SECRETS.dbUrl })).to.match(/secrets\.ingestToken is required/);
    expect(missing({ dbUrl: REQUIRED_SECRETS.dbUrl, ingestToken: REQUIRED_SECRETS.ingestToken })).to.match(/secrets\.adminToken is required/);
    expect(missing({ ...REQUIRED_SECRETS, encryptionKey: '' })).to.match(/secrets\.encryptionKey is required/);
  });

  it('renders these objects, each with a name of at most 63 characters and the chart labels', () => {
    const kinds = rendered.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).to.deep.equal([
      'ConfigMap/wh-webhooks-sidecar',
      'Deployment/wh-webhooks-sidecar',
      'HorizontalPodAutoscaler/wh-webhooks-sidecar',
      'Job/wh-webhooks-sidecar-migrations',
      'PodDisruptionBudget/wh-webhooks-sidecar',
      'Secret/wh-webhooks-sidecar',
      'Secret/wh-webhooks-sidecar-migrations',
      'Service/wh-webhooks-sidecar',
      'ServiceAccount/wh-webhooks-sidecar',
    ]);
    for (const m of rendered.manifests) {
      expect(m.metadata.name.length, m.metadata.name).to.be.at.most(63);
      expect(m.metadata.labels, `${m.kind} labels`).to.include({ 'app.kubernetes.io/name': 'webhooks-sidecar', 'app.kubernetes.io/instance': 'wh', 'app.kubernetes.io/managed-by': 'Helm' });
    }
    for (const [file, text] of rendered.files) expect(text, file).to.not.match(/<no value>|%!|\bnull\b/);
  });

  it('probes: startup and liveness on GET /healthz, readiness on the gRPC health service of port 50051', () => {
    const c = containerOf(deployment);
    expect(c.ports).to.deep.equal([
      { name: 'grpc', containerPort: 50051, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ]);
    expect(c.readinessProbe).to.deep.include({ grpc: { port: 50051, service: '' } });
    for (const probe of ['startupProbe', 'livenessProbe']) expect(c[probe], probe).to.deep.include({ httpGet: { path: '/healthz', port: 'metrics' } });
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(c[probe], probe).to.have.keys(probe === 'readinessProbe' ? ['grpc', 'periodSeconds', 'timeoutSeconds', 'failureThreshold'] : ['httpGet', 'periodSeconds', 'timeoutSeconds', 'failureThreshold']);
    }
  });

  it('security context: non-root as the image USER, read-only root filesystem, no privilege escalation, no capabilities', () => {
    const pod = at<Record<string, unknown>>(deployment, 'spec.template.spec.securityContext');
    const imageUser = lastOf(readDockerfile().stages.at(-1)!, 'USER')!.args[0]!.split(':');
    expect(pod).to.deep.include({ runAsNonRoot: true, runAsUser: Number(imageUser[0]), runAsGroup: Number(imageUser[1]), seccompProfile: { type: 'RuntimeDefault' } });
    expect(containerOf(deployment).securityContext).to.deep.equal({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(at(deployment, 'spec.template.spec.automountServiceAccountToken')).to.equal(false);
    expect(containerOf(deployment).volumeMounts).to.deep.include({ name: 'tmp', mountPath: '/tmp' });
  });

  it('resources, rolling update without lost capacity, and a grace period that covers the shutdown grace', () => {
    expect(containerOf(deployment).resources).to.deep.equal({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect(at(deployment, 'spec.strategy')).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } });
    expect(at(deployment, 'spec.replicas'), 'the HPA owns the replica count').to.equal(undefined);
    const graceS = at<number>(deployment, 'spec.template.spec.terminationGracePeriodSeconds');
    const preStop = Number(at<string[]>(containerOf(deployment), 'lifecycle.preStop.exec.command')[1]);
    const shutdownMs = Number(podEnv(rendered).WEBHOOKS_SHUTDOWN_GRACE_MS);
    // The kubelet SIGKILLs at the end of the grace period: the sleep, the drain and 5 s to close pools must fit.
    expect(graceS * 1000).to.be.at.least(preStop * 1000 + shutdownMs + 5000);
  });

  it('wires every configuration variable of the sidecar into the pods (config, secret or env)', () => {
    const overrides = {
      tls: { enabled: true, secretName: 'wh-tls', requireClientCertificates: true },
      dbTls: { mode: 'verify-identity', secretName: 'wh-db-tls', clientCertificate: true },
      secrets: { platformToken: 'platform-token-0123456789' },
    };
    const env = podEnv(render(overrides));
    const missing = configurationVariables().filter((name) => !(name in env));
    expect(missing, 'variables no pod gets').to.deep.equal([]);
    expect(configurationVariables().length, 'variables found in src/config and README').to.be.greaterThan(20);
  });

  it('gives the pods a configuration the sidecar accepts, equal to its own defaults', () => {
    const env = podEnv(rendered);
    const { config } = loadConfig(env);
    const { config: defaults } = loadConfig({ WEBHOOKS_DB_URL: REQUIRED_SECRETS.dbUrl, WEBHOOKS_INGEST_TOKEN: REQUIRED_SECRETS.ingestToken, WEBHOOKS_ADMIN_TOKEN: REQUIRED_SECRETS.adminToken, WEBHOOKS_ENCRYPTION_KEY: REQUIRED_SECRETS.encryptionKey });
    const comparable = (c: typeof config): Record<string, unknown> => Object.fromEntries(Object.entries(c).filter(([k]) => !['allowedCidrs', 'encryptionKeys', 'tokens', 'db', 'tls'].includes(k)));
    expect(comparable(config)).to.deep.equal(comparable(defaults));
    expect(config.db).to.deep.include({ kind: 'mysql', host: 'mysql.databases.svc', database: 'webhooks' });
    expect(config.tokens).to.deep.include({ ingest: REQUIRED_SECRETS.ingestToken, admin: REQUIRED_SECRETS.adminToken });
  });

  it('rolls the pods when the ConfigMap or the Secret changes (checksum annotations of the rendered files)', () => {
    const annotations = at<Record<string, string>>(deployment, 'spec.template.metadata.annotations');
    const sha = (file: string): string => createHash('sha256').update(rendered.files.get(file)!).digest('hex');
    expect(annotations).to.deep.equal({ 'checksum/config': sha('configmap.yaml'), 'checksum/secret': sha('secret.yaml') });
    const changed = at<Record<string, string>>(one(render({ config: { maxRetries: 5 } }), 'Deployment'), 'spec.template.metadata.annotations');
    expect(changed['checksum/config']).to.not.equal(annotations['checksum/config']);
  });

  it('migrates in a pre-install/pre-upgrade Job with the pods\' image, settings and security context', () => {
    const job = one(rendered, 'Job');
    expect(job.metadata.annotations).to.deep.equal({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-weight': '0',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    const c = containerOf(job);
    expect(c.command).to.deep.equal(['node', 'dist/src/db/migrate-cli.js']);
    expect(c.image).to.equal(containerOf(deployment).image).and.equal('webhooks-sidecar:0.1.0');
    expect(at(job, 'spec.template.spec.restartPolicy')).to.equal('Never');
    expect(c.securityContext).to.deep.equal(containerOf(deployment).securityContext);
    expect(at(job, 'spec.template.spec.securityContext')).to.deep.equal(at(deployment, 'spec.template.spec.securityContext'));
    // Hooks run before the release's ServiceAccount, ConfigMap and Secret exist.
    expect(at(job, 'spec.template.spec.serviceAccountName')).to.equal(undefined);
    const configMap = at<Record<string, string>>(one(rendered, 'ConfigMap'), 'data');
    expect(Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]))).to.deep.equal(configMap);
    const secretName = c.envFrom![0]!.secretRef!.name;
    const hookSecret = all(rendered, 'Secret').find((s) => s.metadata.name === secretName)!;
    expect(hookSecret.metadata.annotations).to.include({ 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-weight': '-10' });
    expect(hookSecret.data).to.deep.equal(one(rendered, 'Secret', 'secret.yaml').data);
    // Its pod is no sidecar: the Service and the PDB must not select it.
    const jobLabels = at<Record<string, string>>(job, 'spec.template.metadata.labels');
    for (const m of [deployment, one(rendered, 'Service'), one(rendered, 'PodDisruptionBudget')]) {
      const selector = at<Record<string, string>>(m, m.kind === 'Service' ? 'spec.selector' : 'spec.selector.matchLabels');
      expect(Object.entries(selector).every(([k, v]) => jobLabels[k] === v), `${m.kind} selects the migration pod`).to.equal(false);
    }
  });

  it('a Service for gRPC and metrics, an HPA on the Deployment, a PDB on its pods', () => {
    const service = one(rendered, 'Service');
    expect(at(service, 'spec.ports')).to.deep.equal([
      { name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      { name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP', appProtocol: 'http' },
    ]);
    const selector = at(deployment, 'spec.selector.matchLabels');
    expect(at(service, 'spec.selector')).to.deep.equal(selector);
    expect(at(deployment, 'spec.template.metadata.labels')).to.deep.include(selector as object);
    const hpa = one(rendered, 'HorizontalPodAutoscaler');
    expect(at(hpa, 'spec.scaleTargetRef')).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(at(hpa, 'spec')).to.deep.include({ minReplicas: 2, maxReplicas: 10 });
    expect(at(one(rendered, 'PodDisruptionBudget'), 'spec')).to.deep.equal({ maxUnavailable: 1, selector: { matchLabels: selector } });
  });

  it('keeps the secrets in the Secret only, and prints NOTES with the address', () => {
    const secret = at<Record<string, string>>(one(rendered, 'Secret', 'secret.yaml'), 'data');
    expect(Buffer.from(secret.WEBHOOKS_DB_URL!, 'base64').toString()).to.equal(REQUIRED_SECRETS.dbUrl);
    for (const m of rendered.manifests.filter((x) => x.kind !== 'Secret')) {
      for (const value of Object.values(REQUIRED_SECRETS)) expect(JSON.stringify(m), `${m.kind} holds a secret`).to.not.include(value);
    }
    expect(rendered.notes).to.include('wh-webhooks-sidecar.identity.svc:50051').and.include('node dist/src/cli/main.js');
  });
});
