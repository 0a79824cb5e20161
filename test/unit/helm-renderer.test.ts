/**
 * The chart test's template renderer against what Go's text/template and Helm do, for the
 * behaviours that change a chart's output: trim markers, float64 values printed by %v (1e+06),
 * `default` treating false as empty, maps ranged in key order, nil fields being an error,
 * include with its own $, toYaml's sorted keys, nindent, and unknown functions refused.
 */
import { expect } from 'chai';
import { Evaluator } from '../support/helm/evaluate';
import { parseTemplate } from '../support/helm/parse';
import { RenderError } from '../support/helm/functions';

function run(source: string, values: Record<string, unknown> = {}): string {
  const parsed = parseTemplate(source, 'test');
  const context = { Values: values, Release: { Name: 'r' } };
  return new Evaluator(parsed.defines).render(parsed.root, context, context, 'test');
}

describe('helm renderer (Go template semantics)', () => {
  it('trims white space at {{- and -}}, and drops comments', () => {
    expect(run('a  \n  {{- "b" -}}  \n  c')).to.equal('abc');
    expect(run('a {{/* note */}}b {{- /* note */ -}} c')).to.equal('a bc');
  });

  it('prints values as Go prints float64 (%v), and int64 as integers', () => {
    expect(run('{{ .Values.a }} {{ .Values.b }} {{ .Values.c }} {{ .Values.d }}', { a: 30000, b: 1000000, c: 86400000, d: 0.25 })).to.equal('30000 1e+06 8.64e+07 0.25');
    expect(run('{{ .Values.c | int64 }} {{ .Values.c | int64 | quote }} {{ printf "%d" (.Values.b | int64) }}', { b: 1e6, c: 86400000 })).to.equal('86400000 "86400000" 1000000');
  });

  it('if/else if/else, with, and default treating false, 0 and "" as empty', () => {
    const t = '{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}';
    expect([run(t, { a: 1 }), run(t, { b: 'x' }), run(t, { a: 0, b: '' })]).to.deep.equal(['A', 'B', 'C']);
    expect(run('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } })).to.equal('v');
    expect(run('{{ .Values.x | default true }}', { x: false })).to.equal('true');
  });

  it('ranges over maps in key order and lists with index, with variables scoped to the body', () => {
    expect(run('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).to.equal('a=1;b=2;');
    expect(run('{{ range $i, $e := .Values.l }}{{ $i }}:{{ $e }} {{ end }}', { l: ['x', 'y'] })).to.equal('0:x 1:y ');
    expect(() => run('{{ range $x := .Values.l }}{{ end }}{{ $x }}', { l: [1] })).to.throw(RenderError, /undefined variable \$x/);
  });

  it('fails on a field of nil, like "nil pointer evaluating"; a missing key of a map is empty', () => {
    expect(run('[{{ .Values.missing }}]')).to.equal('[]');
    expect(() => run('{{ .Values.missing.key }}')).to.throw(RenderError, /nil pointer evaluating \.Values\.missing\.key/);
  });

  it('include renders a define with the given dot as $; toYaml sorts keys; nindent pads every line', () => {
    const source = '{{- define "x" -}}name: {{ $.Release.Name }}{{- end -}}out:{{ include "x" . | nindent 2 }}\n{{ toYaml .Values.m }}';
    expect(run(source, { m: { z: 1, a: { list: ['p', 'q'] } } })).to.equal('out:\n  name: r\na:\n  list:\n    - p\n    - q\nz: 1');
  });

  it('refuses what it does not know, instead of rendering it wrongly', () => {
    expect(() => run('{{ tpl "x" . }}')).to.throw(RenderError, /function "tpl" not defined/);
    expect(() => run('{{ template "x" . }}')).to.throw(/unsupported "template"/);
    expect(() => run('{{ eq .Values.n 1 }}', { n: 1 })).to.throw(RenderError, /incompatible types for comparison/);
    expect(() => run('{{ required "give x" .Values.x }}')).to.throw(RenderError, /give x/);
  });
});
