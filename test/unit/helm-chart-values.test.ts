/**
 * The chart's values: values.schema.json (JSON Schema draft-07, checked with ajv as Helm checks
 * it on install) accepts values.yaml and refuses what the sidecar would refuse, with the same
 * bounds as the sidecar's configuration parser; every .Values path a template reads exists in
 * values.yaml, so a typo cannot render silently empty.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config';
import { CHART_DIR, one, podEnv, render, theChart } from '../support/helm/fixtures';
import { isDict, type Dict } from '../support/helm/values';

const schema = JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

function problems(values: unknown): string[] {
  return validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

function withValue(dotted: string, value: unknown): Dict {
  const copy = structuredClone(theChart().values);
  const keys = dotted.split('.');
  let node: Dict = copy;
  for (const k of keys.slice(0, -1)) node = node[k] as Dict;
  node[keys[keys.length - 1]!] = value;
  return copy;
}

/** The config.* keys that map to one integer variable, with the schema's bounds. */
function integerSettings(): Array<{ key: string; min: number; max: number }> {
  const props = (schema as { properties: { config: { properties: Record<string, { type?: string; minimum?: number; maximum?: number }> } } }).properties.config.properties;
  return Object.entries(props)
    .filter(([key, p]) => p.type === 'integer' && !key.endsWith('Port'))
    .map(([key, p]) => ({ key, min: p.minimum!, max: p.maximum! }));
}

/** Renders with config.<key> = value and parses the pods' environment as the sidecar does. */
function sidecarAccepts(key: string, value: number): true | string {
  try {
    loadConfig(podEnv(render({ config: { [key]: value } })));
    return true;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

describe('Helm chart: values and values.schema.json', () => {
  it('values.schema.json accepts values.yaml', () => {
    expect(problems(theChart().values)).to.deep.equal([]);
  });

  it('refuses unknown keys, out-of-range settings, a non-MySQL URL, short tokens and a bad key', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['replicaCount', 0, /\/replicaCount must be >= 1/],
      ['config.maxRetries', 51, /\/config\/maxRetries must be <= 50/],
      ['config.logLevel', 'loud', /\/config\/logLevel must be equal to one of the allowed values/],
      ['config.retryBaseMs', '30000', /\/config\/retryBaseMs must be integer/],
      ['config.maxRetrys', 3, /\/config must NOT have additional properties/],
      ['secrets.dbUrl', 'sqlite:./data/webhooks.db', /\/secrets\/dbUrl must match pattern/],
      ['secrets.dbUrl', 'mysql://app:pw@db:3306/webhooks?ssl=true', /\/secrets\/dbUrl must match pattern/],
      ['secrets.adminToken', 'short', /\/secrets\/adminToken must match pattern/],
      ['secrets.encryptionKey', 'bm90LTMyLWJ5dGVz', /\/secrets\/encryptionKey must match pattern/],
      ['networkPolicy.database.cidr', '10.0.0.1', /\/networkPolicy\/database\/cidr/],
      // A digest goes in image.digest: in the repository or the tag it renders an invalid reference or label.
      ['image.repository', `registry.example.com/webhooks-sidecar@sha256:${'a'.repeat(64)}`, /\/image\/repository must match pattern/],
      ['image.tag', `0.1.0@sha256:${'a'.repeat(64)}`, /\/image\/tag must match pattern/],
      ['image.digest', 'a'.repeat(64), /\/image\/digest must match pattern/],
      ['image.digest', `sha256:${'A'.repeat(64)}`, /\/image\/digest must match pattern/],
      ['otel.env', { SERVICE_NAME: 'x' }, /\/otel\/env property name must be valid/],
      // A bare `off` in a values file arrives as false.
      ['dbTls.mode', false, /\/dbTls\/mode must be equal to one of the allowed values/],
      ['dbTls.mode', 'required', /\/dbTls\/mode must be equal to one of the allowed values/],
    ];
    for (const [key, value, expected] of cases) expect(problems(withValue(key, value)).join('; '), key).to.match(expected);
    expect(problems(withValue('image.digest', `sha256:${'a'.repeat(64)}`)), 'a digest').to.deep.equal([]);
    expect(problems(withValue('image.repository', 'registry.example.com:5000/team/webhooks-sidecar')), 'a registry with a port').to.deep.equal([]);
    expect(problems(withValue('secrets.encryptionKey', `${Buffer.alloc(32, 1).toString('base64')},${Buffer.alloc(32, 2).toString('base64')}`)), 'a key rotation list').to.deep.equal([]);
  });

  it('bounds each integer setting exactly where the sidecar does: both ends accepted, one past refused', () => {
    const settings = integerSettings();
    expect(settings.length).to.be.greaterThan(10);
    for (const { key, min, max } of settings) {
      expect(sidecarAccepts(key, min), `${key} = ${min}`).to.equal(true);
      expect(sidecarAccepts(key, max), `${key} = ${max}`).to.equal(true);
      expect(sidecarAccepts(key, max + 1), `${key} = ${max + 1}`).to.match(/^WEBHOOKS_\w+: must be between/);
      if (min > 0) expect(sidecarAccepts(key, min - 1), `${key} = ${min - 1}`).to.match(/^WEBHOOKS_\w+: must be between/);
    }
  });

  it('renders large numbers as the sidecar reads them (Helm holds values as float64: 8.64e+07 would be refused)', () => {
    const data = one(render({ config: { secretOverlapMs: 172_800_000, disableAfterMs: 31_536_000_000 } }), 'ConfigMap').data as Record<string, string>;
    expect(data).to.include({ WEBHOOKS_SECRET_OVERLAP_MS: '172800000', WEBHOOKS_DISABLE_AFTER_MS: '31536000000' });
  });

  it('reads no .Values path that values.yaml lacks', () => {
    // Local shorthands the templates bind: $c := .Values.config, and so on.
    const aliases: Record<string, string> = { $c: 'config', $s: 'secrets', $np: 'networkPolicy', $t: 'dbTls' };
    const missing: string[] = [];
    for (const [file, source] of theChart().templates) {
      for (const bound of source.matchAll(/\{\{-?\s*(\$\w+) := \.Values\.(\w+)\s*-?\}\}/g)) expect(aliases[bound[1]!], `${file}: ${bound[0]}`).to.equal(bound[2]);
      const paths = [
        ...[...source.matchAll(/\.Values((?:\.\w+)+)/g)].map((m) => m[1]!.slice(1)),
        ...[...source.matchAll(/(\$c|\$s|\$np|\$t)((?:\.\w+)+)/g)].map((m) => `${aliases[m[1]!]}${m[2]}`),
      ];
      for (const p of paths) if (!has(theChart().values, p.split('.'))) missing.push(`${file}: .Values.${p}`);
    }
    expect(missing).to.deep.equal([]);
  });
});

function has(values: unknown, keys: string[]): boolean {
  let node = values;
  for (const k of keys) {
    if (!isDict(node) || !(k in node)) return false;
    node = node[k];
  }
  return true;
}

describe('Helm chart: its README', () => {
  it('documents every value with its default', () => {
    const readme = fs.readFileSync(path.join(CHART_DIR, 'README.md'), 'utf8');
    const rows = new Map([...readme.matchAll(/^\| `([\w.]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    const undocumented: string[] = [];
    const walk = (node: unknown, prefix: string): void => {
      if (prefix !== '' && rows.has(prefix)) return; // documented here, as a whole or as a scalar
      if (!isDict(node) || Object.keys(node).length === 0) return void undocumented.push(prefix);
      for (const [k, v] of Object.entries(node)) walk(v, prefix === '' ? k : `${prefix}.${k}`);
    };
    walk(theChart().values, '');
    expect(undocumented, 'values without a row').to.deep.equal([]);
    for (const [key, cell] of rows) {
      const keys = key.split('.');
      expect(has(theChart().values, keys), `${key} is documented but not in values.yaml`).to.equal(true);
      const value = keys.reduce<unknown>((n, k) => (n as Dict)[k], theChart().values);
      if (cell !== 'see values.yaml') expect(cell, key).to.equal(`\`${JSON.stringify(value)}\``);
    }
  });
});
