/**
 * The chart with the overrides operators use: their own Secret, TLS (with client
 * certificates), a fixed replica count, the NetworkPolicy, a ServiceMonitor and OpenTelemetry.
 */
import { expect } from 'chai';
import { parse } from '../../src/cli/args';
import { loadConfig } from '../../src/config';
import { RenderError } from '../support/helm/functions';
import { all, at, containerOf, one, podEnv, render } from '../support/helm/fixtures';

describe('Helm chart: overrides', () => {
  it('secrets.existingSecret: no Secret of the chart; the pods and the migration Job read the named one', () => {
    const rendered = render({ secrets: { existingSecret: 'identity-webhooks', dbUrl: '', ingestToken: '', adminToken: '', encryptionKey: '' } });
    expect(all(rendered, 'Secret')).to.deep.equal([]);
    const refs = [one(rendered, 'Deployment'), one(rendered, 'Job')].map((w) => containerOf(w).envFrom!.find((e) => e.secretRef)!.secretRef!.name);
    expect(refs).to.deep.equal(['identity-webhooks', 'identity-webhooks']);
    expect(at(one(rendered, 'Deployment'), 'spec.template.metadata.annotations')).to.have.keys(['checksum/config']);
    // So an edit of that Secret rolls no pod: NOTES says to restart them (before a key's re-seal, say).
    expect(rendered.notes).to.include('kubectl -n identity rollout restart deployment/wh-webhooks-sidecar\n').and.include('kubectl -n identity rollout status deployment/wh-webhooks-sidecar\n');
  });

  it('image.digest: pods and the migration Job pull repository@digest; every label stays a valid label value', () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const rendered = render({ image: { repository: 'registry.example.com:5000/webhooks-sidecar', tag: '0.1.0', digest } });
    for (const workload of [one(rendered, 'Deployment'), one(rendered, 'Job')]) {
      expect(containerOf(workload).image, workload.kind).to.equal(`registry.example.com:5000/webhooks-sidecar@${digest}`);
    }
    // A label value is at most 63 characters, alphanumeric at both ends, with -_. between: the
    // API server refuses the whole object otherwise. A long tag (128 characters are allowed) must not leak in.
    const label = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
    const longTag = render({ image: { tag: `0.1.0-build.${'0123456789abcdef'.repeat(5)}`, digest } });
    for (const m of [...rendered.manifests, ...longTag.manifests]) {
      for (const [k, v] of Object.entries(m.metadata.labels ?? {})) {
        expect(v.length <= 63 && label.test(v), `${m.kind} ${k}=${v}`).to.equal(true);
      }
    }
    expect(one(longTag, 'Deployment').metadata.labels).to.include({ 'app.kubernetes.io/version': '0.1.0' });
    expect(containerOf(one(render({ image: { tag: '0.2.0' } }), 'Deployment')).image, 'without a digest').to.equal('webhooks-sidecar:0.2.0');
  });

  it('tls: certificate files mounted from the Secret, readiness on GET /readyz (the kubelet cannot probe gRPC over TLS)', () => {
    const rendered = render({ tls: { enabled: true, secretName: 'wh-tls', requireClientCertificates: true } });
    const c = containerOf(one(rendered, 'Deployment'));
    expect(c.readinessProbe).to.deep.include({ httpGet: { path: '/readyz', port: 'metrics' } });
    expect(podEnv(rendered)).to.include({
      WEBHOOKS_TLS_CERT_FILE: '/etc/webhooks/tls/tls.crt',
      WEBHOOKS_TLS_KEY_FILE: '/etc/webhooks/tls/tls.key',
      WEBHOOKS_TLS_CLIENT_CA_FILE: '/etc/webhooks/tls/ca.crt',
    });
    expect(c.volumeMounts).to.deep.include({ name: 'tls', mountPath: '/etc/webhooks/tls', readOnly: true });
    expect(at(one(rendered, 'Deployment'), 'spec.template.spec.volumes')).to.deep.include({ name: 'tls', secret: { secretName: 'wh-tls' } });
    expect(() => render({ tls: { enabled: true } })).to.throw(RenderError, /tls\.secretName is required/);
  });

  it('dbTls: the mode for pods and migration Job, the CA and client certificate mounted from the Secret in both', () => {
    const rendered = render({ dbTls: { mode: 'verify-identity', secretName: 'wh-db-tls', clientCertificate: true } });
    const files = {
      WEBHOOKS_DB_TLS: 'verify-identity',
      WEBHOOKS_DB_TLS_CA_FILE: '/etc/webhooks/db-tls/ca.crt',
      WEBHOOKS_DB_TLS_CERT_FILE: '/etc/webhooks/db-tls/tls.crt',
      WEBHOOKS_DB_TLS_KEY_FILE: '/etc/webhooks/db-tls/tls.key',
    };
    expect(podEnv(rendered)).to.include(files);
    const job = one(rendered, 'Job');
    const jobEnv = Object.fromEntries(containerOf(job).env!.map((e) => [e.name, e.value]));
    expect(jobEnv).to.include(files);
    for (const workload of [one(rendered, 'Deployment'), job]) {
      expect(containerOf(workload).volumeMounts).to.deep.include({ name: 'db-tls', mountPath: '/etc/webhooks/db-tls', readOnly: true });
      expect(at(workload, 'spec.template.spec.volumes')).to.deep.include({ name: 'db-tls', secret: { secretName: 'wh-db-tls' } });
    }
    // verify-identity may trust the public roots: no Secret, no files.
    const publicRoots = podEnv(render({ dbTls: { mode: 'verify-identity' } }));
    expect(publicRoots.WEBHOOKS_DB_TLS).to.equal('verify-identity');
    expect(publicRoots).to.not.have.property('WEBHOOKS_DB_TLS_CA_FILE');
    expect(podEnv(render())).to.include({ WEBHOOKS_DB_TLS: 'off' });
    expect(() => render({ dbTls: { mode: 'verify-ca' } })).to.throw(RenderError, /dbTls\.secretName is required with dbTls\.mode verify-ca/);
    expect(() => render({ dbTls: { secretName: 'wh-db-tls' } })).to.throw(RenderError, /need dbTls\.mode verify-ca or verify-identity/);
    expect(() => render({ dbTls: { mode: 'verify-identity', clientCertificate: true } })).to.throw(RenderError, /dbTls\.secretName is required with dbTls\.clientCertificate/);
  });

  it('autoscaling off: the Deployment holds replicaCount and there is no HPA', () => {
    const rendered = render({ autoscaling: { enabled: false }, replicaCount: 3 });
    expect(at(one(rendered, 'Deployment'), 'spec.replicas')).to.equal(3);
    expect(all(rendered, 'HorizontalPodAutoscaler')).to.deep.equal([]);
  });

  it('networkPolicy: DNS, the database and public addresses out; private ranges closed except allowedCidrs', () => {
    const rendered = render({
      networkPolicy: { enabled: true, database: { cidr: '10.20.0.15/32', port: 3306 } },
      config: { allowedCidrs: '10.50.0.0/16, 192.168.7.0/24' },
    });
    const policy = one(rendered, 'NetworkPolicy');
    expect(at(policy, 'spec.podSelector.matchLabels')).to.deep.equal(at(one(rendered, 'Deployment'), 'spec.selector.matchLabels'));
    expect(at(policy, 'spec.policyTypes')).to.deep.equal(['Ingress', 'Egress']);
    type Rule = { to: Array<{ ipBlock?: { cidr: string; except?: string[] }; namespaceSelector?: unknown }>; ports?: Array<{ port: number; protocol: string }> };
    const egress = at<Rule[]>(policy, 'spec.egress');
    expect(egress[0]!.ports).to.deep.equal([{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]);
    expect(egress[1]).to.deep.equal({ to: [{ ipBlock: { cidr: '10.20.0.15/32' } }], ports: [{ port: 3306, protocol: 'TCP' }] });
    const internet = egress[2]!.to;
    expect(internet[0]!.ipBlock).to.deep.equal({ cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', '127.0.0.0/8'] });
    expect(internet[1]!.ipBlock!.cidr).to.equal('::/0');
    expect(egress[2]!.ports, 'receivers listen on any port').to.equal(undefined);
    expect(egress[3]!.to.map((t) => t.ipBlock!.cidr)).to.deep.equal(['10.50.0.0/16', '192.168.7.0/24']);
    expect(() => render({ networkPolicy: { enabled: true } })).to.throw(RenderError, /networkPolicy\.database\.cidr is required/);
  });

  it('serviceMonitor: scrapes /metrics on the metrics port of the Service', () => {
    const rendered = render({ serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } });
    const monitor = one(rendered, 'ServiceMonitor');
    expect(monitor.apiVersion).to.equal('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).to.include({ release: 'prometheus' });
    expect(at(monitor, 'spec.endpoints')).to.deep.equal([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    expect(at(monitor, 'spec.selector.matchLabels')).to.deep.equal(at(one(rendered, 'Service'), 'spec.selector'));
  });

  it('otel.existingSecret: the pods and the migration Job read its OTEL_* keys; nothing of it in the ConfigMap', () => {
    const rendered = render({ otel: { existingSecret: 'otel-credentials', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com' } } });
    for (const workload of [one(rendered, 'Deployment'), one(rendered, 'Job')]) {
      expect(containerOf(workload).envFrom, workload.kind).to.deep.include({ secretRef: { name: 'otel-credentials' } });
    }
    // The sidecar's own Secret still comes last in the pods: an OTEL_* Secret cannot override it.
    expect(containerOf(one(rendered, 'Deployment')).envFrom!.at(-1)).to.deep.equal({ secretRef: { name: 'wh-webhooks-sidecar' } });
    expect(one(rendered, 'ConfigMap').data).to.deep.include({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com' });
    const without = render();
    for (const workload of [one(without, 'Deployment'), one(without, 'Job')]) expect(containerOf(workload).envFrom, workload.kind).to.have.length(workload.kind === 'Job' ? 1 : 2);
    // Credentials already in otel.env: NOTES says where they belong.
    const inClear = render({ otel: { env: { OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k' } } }).notes;
    expect(inClear).to.include('otel.env.OTEL_EXPORTER_OTLP_HEADERS is in the ConfigMap in clear text').and.include('otel.existingSecret');
    expect(without.notes).to.not.include('otel.existingSecret');
  });

  it('otel.env and extraEnv reach the pods; the sidecar still accepts the configuration', () => {
    const rendered = render({
      otel: { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318', OTEL_TRACES_SAMPLER_ARG: 0.25 } },
      extraEnv: [{ name: 'WEBHOOKS_PLATFORM_TOKEN', valueFrom: { secretKeyRef: { name: 'platform', key: 'token' } } }],
      config: { logLevel: 'debug', allowedCidrs: '127.0.0.2/32' },
    });
    const env = podEnv(rendered);
    expect(env).to.include({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318', OTEL_TRACES_SAMPLER_ARG: '0.25', WEBHOOKS_LOG_LEVEL: 'debug' });
    expect(containerOf(one(rendered, 'Deployment')).env).to.deep.include({ name: 'WEBHOOKS_PLATFORM_TOKEN', valueFrom: { secretKeyRef: { name: 'platform', key: 'token' } } });
    expect(loadConfig(env).config.logLevel).to.equal('debug');
  });

  it('NOTES: the grpcurl and in-pod CLI lines speak the transport the server does, on its port', () => {
    const lines = (notes: string, marker: string): string[] => notes.split('\n').filter((l) => l.includes(marker)).map((l) => l.trim());
    /** Each CLI line as the CLI itself parses it: an unknown flag throws. */
    const cliArgs = (notes: string): Array<Record<string, unknown>> =>
      lines(notes, 'webhooks list').map((l) => ({ ...parse(l.split(' -- node dist/src/cli/main.js ')[1]!.split(' '), {}).values }));

    const plain = render({ config: { grpcPort: 6000 } }).notes;
    expect(lines(plain, 'grpcurl')).to.deep.equal(['grpcurl -plaintext localhost:50051 grpc.health.v1.Health/Check']);
    expect(cliArgs(plain), 'the CLI dials localhost:50051 unless told').to.deep.equal([{ addr: '127.0.0.1:6000', tenant: 'TENANT' }]);

    const serverName = 'wh-webhooks-sidecar.identity.svc';
    const tls = render({ tls: { enabled: true, secretName: 'wh-tls' } }).notes;
    expect(tls).to.not.include('-plaintext');
    expect(lines(tls, 'grpcurl')).to.deep.equal([`grpcurl -cacert wh-tls-ca.crt -servername ${serverName} localhost:50051 grpc.health.v1.Health/Check`]);
    expect(tls).to.include("kubectl -n identity get secret wh-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > wh-tls-ca.crt");
    expect(cliArgs(tls)).to.deep.equal([{ addr: '127.0.0.1:50051', tls: true, ca: '/etc/webhooks/tls/ca.crt', 'server-name': serverName, tenant: 'TENANT' }]);
    expect(tls).to.not.include('client certificate');

    const mutual = render({ tls: { enabled: true, secretName: 'wh-tls', requireClientCertificates: true } }).notes;
    expect(lines(mutual, 'grpcurl')[0]).to.include(' -cert CLIENT.crt -key CLIENT.key ');
    expect(cliArgs(mutual)).to.deep.equal([
      { addr: '127.0.0.1:50051', tls: true, ca: '/etc/webhooks/tls/ca.crt', 'server-name': serverName, cert: '/etc/webhooks/tls/tls.crt', key: '/etc/webhooks/tls/tls.key', tenant: 'TENANT' },
    ]);
    expect(mutual).to.include('The pods hold no client certificate of their own');
  });
});
