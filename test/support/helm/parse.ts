/**
 * Parser for the subset of Go's text/template that the Helm chart uses: text, actions with trim
 * markers ({{- -}}), comments, pipelines, variables ($, $x :=), if/else if/else, range (with
 * $k, $v :=), with, define and end. Anything else is a parse error, so a template feature the
 * renderer does not know fails the chart test instead of rendering wrongly.
 */

export type Operand =
  | { kind: 'field'; base: 'dot' | string; path: string[] } // .A.B, $x.A, $.A (base '$')
  | { kind: 'literal'; value: unknown }
  | { kind: 'int'; value: number }
  | { kind: 'ident'; name: string } // a function name
  | { kind: 'pipe'; pipeline: Pipeline };

export interface Command {
  readonly operands: readonly Operand[];
}

export interface Pipeline {
  readonly declare: readonly string[]; // $x := ... or $k, $v := ... (range)
  readonly assign: boolean; // $x = ... (re-assignment)
  readonly commands: readonly Command[];
}

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline; line: number }
  | { kind: 'if' | 'with'; pipeline: Pipeline; then: Node[]; otherwise: Node[]; line: number }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[]; line: number };

export interface ParsedTemplate {
  readonly root: Node[];
  readonly defines: Map<string, Node[]>;
}

interface Item {
  kind: 'text' | 'action';
  text: string;
  line: number;
}

export class TemplateError extends Error {}

/** Splits into text and actions, applying the trim markers. */
function lex(source: string, name: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    if (open < 0) {
      items.push({ kind: 'text', text: source.slice(pos), line: lineAt(source, pos) });
      break;
    }
    let text = source.slice(pos, open);
    const trimLeft = source.startsWith('{{- ', open) || source.startsWith('{{-\n', open);
    if (trimLeft) text = text.replace(/\s+$/, '');
    items.push({ kind: 'text', text, line: lineAt(source, pos) });
    const close = findClose(source, open + 2, name);
    const trimRight = source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '');
    const inner = source.slice(open + (trimLeft ? 3 : 2), trimRight ? close - 1 : close).trim();
    if (!(inner.startsWith('/*') && inner.endsWith('*/'))) items.push({ kind: 'action', text: inner, line: lineAt(source, open) });
    pos = close + 2;
    if (trimRight) pos = skipSpace(source, pos);
  }
  return items;
}

function findClose(source: string, from: number, name: string): number {
  let quote: string | undefined;
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '`') quote = c;
    else if (c === '}' && source[i + 1] === '}') return i;
  }
  throw new TemplateError(`${name}: unclosed action at line ${lineAt(source, from)}`);
}

function skipSpace(source: string, pos: number): number {
  while (pos < source.length && /\s/.test(source[pos]!)) pos++;
  return pos;
}

function lineAt(source: string, pos: number): number {
  return source.slice(0, pos).split('\n').length;
}

/** Tokens of one action: strings, numbers, (, ), |, :=, =, ",", words ($x.A, .A.B, names). */
function tokens(text: string, where: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|=,]|[^\s()|=,"`]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1]!);
    if (re.lastIndex >= text.length) break;
  }
  if (out.join('').replace(/\s/g, '') !== text.replace(/\s/g, '') && text.trim() !== '') throw new TemplateError(`${where}: cannot read "${text}"`);
  return out;
}

export function parseTemplate(source: string, name: string): ParsedTemplate {
  const items = lex(source, name);
  const defines = new Map<string, Node[]>();
  let i = 0;
  const where = (item: Item): string => `${name}:${item.line}`;

  function block(stops: readonly string[]): { nodes: Node[]; stop: string; item: Item | undefined } {
    const nodes: Node[] = [];
    while (i < items.length) {
      const item = items[i++]!;
      if (item.kind === 'text') {
        if (item.text !== '') nodes.push({ kind: 'text', text: item.text });
        continue;
      }
      const [word, ...rest] = tokens(item.text, where(item));
      const restText = item.text.slice(item.text.indexOf(word!) + word!.length).trim();
      if (stops.includes(word!)) return { nodes, stop: word!, item: { ...item, text: restText } };
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(control(word, restText, item));
      else if (word === 'define') {
        const defName = JSON.parse(rest[0]!) as string;
        const body = block(['end']);
        if (body.stop !== 'end') throw new TemplateError(`${where(item)}: define without end`);
        defines.set(defName, body.nodes);
      } else if (['else', 'end', 'template', 'block', 'break', 'continue'].includes(word!)) {
        throw new TemplateError(`${where(item)}: unexpected or unsupported "${word}"`);
      } else nodes.push({ kind: 'action', pipeline: pipeline(tokens(item.text, where(item)), where(item)), line: item.line });
    }
    return { nodes, stop: 'eof', item: undefined };
  }

  function control(word: 'if' | 'with' | 'range', text: string, item: Item): Node {
    const p = pipeline(tokens(text, where(item)), where(item));
    const body = block(['else', 'end']);
    let otherwise: Node[] = [];
    if (body.stop === 'else') {
      const elseText = body.item!.text;
      if (elseText.startsWith('if ') && word === 'if') {
        otherwise = [control('if', elseText.slice(3), body.item!)];
        return { kind: 'if', pipeline: p, then: body.nodes, otherwise, line: item.line };
      }
      if (elseText !== '') throw new TemplateError(`${where(item)}: unsupported "else ${elseText}"`);
      const rest = block(['end']);
      if (rest.stop !== 'end') throw new TemplateError(`${where(item)}: ${word} without end`);
      otherwise = rest.nodes;
    } else if (body.stop !== 'end') throw new TemplateError(`${where(item)}: ${word} without end`);
    return word === 'range'
      ? { kind: 'range', pipeline: p, body: body.nodes, otherwise, line: item.line }
      : { kind: word, pipeline: p, then: body.nodes, otherwise, line: item.line };
  }

  const root = block([]).nodes;
  return { root, defines };
}

function pipeline(toks: string[], where: string): Pipeline {
  let declare: string[] = [];
  let assign = false;
  const decl = toks.findIndex((t) => t === ':=' || t === '=');
  if (decl > 0 && toks.slice(0, decl).every((t) => /^\$\w*$/.test(t) || t === ',')) {
    declare = toks.slice(0, decl).filter((t) => t !== ',');
    assign = toks[decl] === '=';
    toks = toks.slice(decl + 1);
  }
  const commands: Command[] = [];
  let current: Operand[] = [];
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if (t === '|') {
      commands.push({ operands: current });
      current = [];
    } else if (t === '(') {
      let depth = 1;
      let end = k + 1;
      for (; end < toks.length && depth > 0; end++) depth += toks[end] === '(' ? 1 : toks[end] === ')' ? -1 : 0;
      if (depth !== 0) throw new TemplateError(`${where}: unbalanced parentheses`);
      current.push({ kind: 'pipe', pipeline: pipeline(toks.slice(k + 1, end - 1), where) });
      k = end - 1;
    } else current.push(operand(t, where));
  }
  commands.push({ operands: current });
  if (commands.some((c) => c.operands.length === 0)) throw new TemplateError(`${where}: empty command in pipeline`);
  return { declare, assign, commands };
}

function operand(t: string, where: string): Operand {
  if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) as string };
  if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
  if (/^-?\d+$/.test(t)) return { kind: 'int', value: Number(t) };
  if (/^-?\d*\.\d+$/.test(t)) return { kind: 'literal', value: Number(t) };
  if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
  if (t === 'nil') return { kind: 'literal', value: null };
  if (t === '.') return { kind: 'field', base: 'dot', path: [] };
  if (/^(\.\w+)+$/.test(t)) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (/^\$\w*(\.\w+)*$/.test(t)) {
    const [base, ...path] = t.split('.');
    return { kind: 'field', base: base!, path };
  }
  if (/^\w+$/.test(t)) return { kind: 'ident', name: t };
  throw new TemplateError(`${where}: cannot read "${t}"`);
}
