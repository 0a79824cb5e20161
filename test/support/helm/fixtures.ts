/** The chart under test, the secrets every install must give, and lookups into a render. */
import path from 'node:path';
import { loadChart, renderChart, type Chart, type Manifest, type Rendered } from './chart';
import type { Dict } from './values';

/** This file is dist/test/support/helm/fixtures.js. */
export const ROOT = path.join(__dirname, '..', '..', '..', '..');
export const CHART_DIR = path.join(ROOT, 'helm', 'webhooks-sidecar');

/** What an operator must give (or an existingSecret): the chart has no defaults for these. */
export const REQUIRED_SECRETS = {
  dbUrl: 'mysql://webhooks:s3cret@mysql.databases.svc:3306/webhooks',
  ingestToken: 'ingest-token-0123456789abcdef',
  adminToken: 'admin-token-0123456789abcdef',
  encryptionKey: Buffer.alloc(32, 42).toString('base64'),
};

let chart: Chart | undefined;

export function theChart(): Chart {
  chart ??= loadChart(CHART_DIR);
  return chart;
}

/** Renders with the required secrets and `overrides` on top of the chart's values. */
export function render(overrides: Dict = {}): Rendered {
  const secrets = { ...REQUIRED_SECRETS, ...((overrides.secrets as Dict | undefined) ?? {}) };
  return renderChart(theChart(), { ...overrides, secrets });
}

export type AnyManifest = Manifest & Dict;

export function all(rendered: Rendered, kind: string): AnyManifest[] {
  return rendered.manifests.filter((m) => m.kind === kind) as AnyManifest[];
}

export function one(rendered: Rendered, kind: string, source?: string): AnyManifest {
  const found = all(rendered, kind).filter((m) => source === undefined || (m as { source?: string }).source === source);
  if (found.length !== 1) throw new Error(`expected one ${kind}${source ? ` from ${source}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** A path into a manifest, e.g. at(deployment, 'spec.template.spec.containers.0'). */
export function at<T = unknown>(value: unknown, dotted: string): T {
  let v: unknown = value;
  for (const key of dotted.split('.')) {
    if (v === null || typeof v !== 'object') throw new Error(`no ${dotted} (stopped at ${key})`);
    v = (v as Record<string, unknown>)[key];
  }
  return v as T;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  [key: string]: unknown;
}

export function containerOf(workload: AnyManifest): Container {
  return at<Container[]>(workload, 'spec.template.spec.containers')[0]!;
}

/** The environment a sidecar pod gets: its ConfigMap, its Secret (decoded) and its env list. */
export function podEnv(rendered: Rendered): Record<string, string> {
  const deployment = one(rendered, 'Deployment');
  const container = containerOf(deployment);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, at<Dict>(all(rendered, 'ConfigMap').find((c) => c.metadata.name === from.configMapRef!.name), 'data'));
    if (from.secretRef) {
      const secret = all(rendered, 'Secret').find((s) => s.metadata.name === from.secretRef!.name);
      for (const [k, v] of Object.entries(secret ? at<Record<string, string>>(secret, 'data') : {})) env[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}
