/**
 * `helm template` for the chart, in-process, with the renderer of this folder: the chart's
 * values.yaml with overrides coalesced over it, every file of templates/ rendered with the
 * Values, Release, Chart and Template objects Helm gives, and each rendered manifest split into
 * its YAML documents and parsed. No helm binary is reachable here (README, "Helm chart").
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Evaluator } from './evaluate';
import { parseTemplate, type Node } from './parse';
import { mergeValues, type Dict } from './values';

export interface Chart {
  readonly dir: string;
  readonly meta: { name: string; version: string; appVersion: string };
  readonly values: Dict;
  /** templates/ file name → source. */
  readonly templates: ReadonlyMap<string, string>;
}

export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  readonly [key: string]: unknown;
}

export interface Rendered {
  /** templates/ file name → rendered text (NOTES.txt included). */
  readonly files: ReadonlyMap<string, string>;
  /** Every YAML document of every manifest, parsed, with the file it came from. */
  readonly manifests: ReadonlyArray<Manifest & { readonly source: string }>;
  readonly notes: string;
}

export interface Release {
  readonly name: string;
  readonly namespace: string;
  readonly isUpgrade?: boolean;
}

export function loadChart(dir: string): Chart {
  const meta = YAML.parse(fs.readFileSync(path.join(dir, 'Chart.yaml'), 'utf8')) as Chart['meta'];
  const values = (YAML.parse(fs.readFileSync(path.join(dir, 'values.yaml'), 'utf8')) ?? {}) as Dict;
  const templates = new Map<string, string>();
  for (const file of fs.readdirSync(path.join(dir, 'templates')).sort()) {
    templates.set(file, fs.readFileSync(path.join(dir, 'templates', file), 'utf8'));
  }
  return { dir, meta, values, templates };
}

export function renderChart(chart: Chart, overrides: Dict = {}, release: Release = { name: 'wh', namespace: 'identity' }): Rendered {
  const values = mergeValues(chart.values, overrides) as Dict;
  const basePath = `${chart.meta.name}/templates`;
  const defines = new Map<string, Node[]>();
  const parsed = new Map<string, Node[]>();
  for (const [file, source] of chart.templates) {
    const template = parseTemplate(source, `templates/${file}`);
    for (const [name, body] of template.defines) defines.set(name, body);
    // Each file is also a template by its path, for include (print $.Template.BasePath "/x.yaml") .
    defines.set(`${basePath}/${file}`, template.root);
    parsed.set(file, template.root);
  }
  const evaluator = new Evaluator(defines);
  const files = new Map<string, string>();
  const manifests: Array<Manifest & { source: string }> = [];
  for (const [file, root] of parsed) {
    if (file.startsWith('_')) continue; // partials: defines only
    const context = {
      Values: values,
      Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm', IsInstall: !release.isUpgrade, IsUpgrade: release.isUpgrade === true, Revision: 1 },
      Chart: { Name: chart.meta.name, Version: chart.meta.version, AppVersion: chart.meta.appVersion },
      Template: { Name: `${basePath}/${file}`, BasePath: basePath },
    };
    const text = evaluator.render(root, context, context, `templates/${file}`);
    files.set(file, text);
    if (!/\.ya?ml$/.test(file)) continue;
    for (const doc of text.split(/^---\s*$/m)) {
      if (doc.replace(/#.*$/gm, '').trim() === '') continue;
      const parsedDoc = YAML.parse(doc, { strict: true, uniqueKeys: true }) as Manifest;
      manifests.push({ ...parsedDoc, source: file });
    }
  }
  return { files, manifests, notes: files.get('NOTES.txt') ?? '' };
}
