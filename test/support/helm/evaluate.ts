/**
 * Evaluates parsed templates: dot and variables with Go's scoping, pipelines (the previous
 * result is the last argument of the next command), if/with/range with else, and `include`.
 * Reading a field of nil is an error, as it is in Go ("nil pointer evaluating"), so a template
 * that reads .Values.a.b where a is missing fails here as it would fail `helm template`.
 */
import { FUNCTIONS, RenderError } from './functions';
import type { Command, Node, Operand, Pipeline } from './parse';
import { GoInt, goString, isDict, truthy } from './values';

type Scope = Map<string, unknown>;

export class Evaluator {
  constructor(private readonly defines: ReadonlyMap<string, Node[]>) {}

  render(nodes: readonly Node[], dot: unknown, root: unknown, where: string): string {
    return this.nodes(nodes, dot, [new Map([['$', root]])], where);
  }

  private nodes(nodes: readonly Node[], dot: unknown, scopes: Scope[], where: string): string {
    let out = '';
    for (const node of nodes) out += this.node(node, dot, scopes, where);
    return out;
  }

  private node(node: Node, dot: unknown, scopes: Scope[], where: string): string {
    const at = (line: number): string => `${where}:${line}`;
    switch (node.kind) {
      case 'text':
        return node.text;
      case 'action': {
        const value = this.pipeline(node.pipeline, dot, scopes, at(node.line));
        return node.pipeline.declare.length > 0 ? '' : goString(value);
      }
      case 'if': {
        const inner = [...scopes, new Map()];
        const test = this.pipeline(node.pipeline, dot, inner, at(node.line));
        return truthy(test) ? this.nodes(node.then, dot, inner, where) : this.nodes(node.otherwise, dot, inner, where);
      }
      case 'with': {
        const inner = [...scopes, new Map()];
        const value = this.pipeline(node.pipeline, dot, inner, at(node.line));
        return truthy(value) ? this.nodes(node.then, value, inner, where) : this.nodes(node.otherwise, dot, inner, where);
      }
      case 'range':
        return this.range(node, dot, scopes, where);
    }
  }

  private range(node: Extract<Node, { kind: 'range' }>, dot: unknown, scopes: Scope[], where: string): string {
    const p = node.pipeline;
    const value = this.pipeline({ ...p, declare: [] }, dot, scopes, `${where}:${node.line}`);
    const entries: Array<[unknown, unknown]> = Array.isArray(value)
      ? value.map((v, i) => [new GoInt(i), v])
      : isDict(value)
        ? Object.keys(value).sort().map((k) => [k, value[k]]) // Go ranges over map keys in order
        : value instanceof GoInt
          ? Array.from({ length: value.value }, (_, i) => [new GoInt(i), new GoInt(i)])
          : [];
    if (value !== null && value !== undefined && !Array.isArray(value) && !isDict(value) && !(value instanceof GoInt)) {
      throw new RenderError(`${where}:${node.line}: range can't iterate over ${goString(value)}`);
    }
    if (entries.length === 0) return this.nodes(node.otherwise, dot, [...scopes, new Map()], where);
    let out = '';
    for (const [key, element] of entries) {
      const scope: Scope = new Map();
      if (p.declare.length === 1) scope.set(p.declare[0]!, element);
      if (p.declare.length === 2) {
        scope.set(p.declare[0]!, key);
        scope.set(p.declare[1]!, element);
      }
      out += this.nodes(node.body, element, [...scopes, scope], where);
    }
    return out;
  }

  private pipeline(p: Pipeline, dot: unknown, scopes: Scope[], where: string): unknown {
    let value: unknown = undefined;
    p.commands.forEach((command, i) => {
      value = this.command(command, dot, scopes, where, i === 0 ? [] : [value]);
    });
    if (p.declare.length === 1) {
      const name = p.declare[0]!;
      if (p.assign) {
        const scope = [...scopes].reverse().find((s) => s.has(name));
        if (!scope) throw new RenderError(`${where}: undefined variable ${name}`);
        scope.set(name, value);
      } else scopes[scopes.length - 1]!.set(name, value);
    }
    return value;
  }

  private command(command: Command, dot: unknown, scopes: Scope[], where: string, piped: unknown[]): unknown {
    const [first, ...rest] = command.operands;
    if (first!.kind === 'ident') {
      const args = [...rest.map((o) => this.operand(o, dot, scopes, where)), ...piped];
      if (first!.name === 'include') return this.include(args, where);
      const fn = FUNCTIONS[first!.name];
      if (!fn) throw new RenderError(`${where}: function "${first!.name}" not defined (not in the renderer's subset)`);
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof RenderError) throw new RenderError(`${where}: ${err.message}`);
        throw err;
      }
    }
    if (rest.length > 0 || piped.length > 0) throw new RenderError(`${where}: can't give arguments to a non-function`);
    return this.operand(first!, dot, scopes, where);
  }

  private include(args: unknown[], where: string): string {
    const name = goString(args[0]);
    const body = this.defines.get(name);
    if (!body) throw new RenderError(`${where}: no template "${name}"`);
    // As in Go, the included template's $ is the data it was given.
    return this.render(body, args[1], args[1], `${where} > ${name}`);
  }

  private operand(o: Operand, dot: unknown, scopes: Scope[], where: string): unknown {
    switch (o.kind) {
      case 'literal':
        return o.value;
      case 'int':
        return new GoInt(o.value);
      case 'pipe':
        return this.pipeline(o.pipeline, dot, scopes, where);
      case 'ident': {
        // A function named without arguments as an argument: call it with none.
        return this.command({ operands: [o] }, dot, scopes, where, []);
      }
      case 'field': {
        let value: unknown = dot;
        if (o.base !== 'dot') {
          const scope = [...scopes].reverse().find((s) => s.has(o.base));
          if (!scope) throw new RenderError(`${where}: undefined variable ${o.base}`);
          value = scope.get(o.base);
        }
        for (const [i, key] of o.path.entries()) {
          if (!isDict(value)) {
            const path = `${o.base === 'dot' ? '' : o.base}.${o.path.slice(0, i + 1).join('.')}`;
            throw new RenderError(`${where}: nil pointer evaluating ${path} (the value before .${key} is ${goString(value) || 'nil'})`);
          }
          value = value[key];
        }
        return value;
      }
    }
  }
}
