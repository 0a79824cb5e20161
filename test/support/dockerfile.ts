/**
 * The Dockerfile as data, for the lint (test/unit/dockerfile-lint.test.ts) and for the test that
 * runs its steps without a Docker engine (test/e2e/dockerfile-build.test.ts). Parsing is
 * dockerfile-ast's (the parser behind VS Code's Docker support); this only resolves build
 * arguments and groups instructions by stage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

/** This file is dist/test/support/dockerfile.js. */
export const ROOT = path.join(__dirname, '..', '..', '..');
export const DOCKERFILE = path.join(ROOT, 'Dockerfile');
export const DOCKERIGNORE = path.join(ROOT, '.dockerignore');

export interface Step {
  readonly keyword: string;
  /** Whitespace-separated arguments, flags excluded, build arguments substituted. */
  readonly args: readonly string[];
  /** The arguments as one string (a RUN's shell command), flags excluded. */
  readonly content: string;
  readonly flags: Readonly<Record<string, string>>;
  /** The exec form (["node", "x.js"]) of RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD, if used. */
  readonly exec: readonly string[] | undefined;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  /** The FROM image with build arguments substituted. */
  readonly image: string;
  readonly steps: readonly Step[];
}

export interface ParsedDockerfile {
  readonly text: string;
  /** ARGs declared before the first FROM, with their defaults. */
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
  readonly all: readonly Step[];
}

export function readDockerfile(file = DOCKERFILE): ParsedDockerfile {
  const text = fs.readFileSync(file, 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const buildArgs: Record<string, string> = {};
  for (const arg of dockerfile.getInitialARGs()) {
    const [name, ...value] = (arg.getArgumentsContent() ?? '').split('=');
    buildArgs[name!.trim()] = value.join('=').trim();
  }
  const expand = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string, b: string) => buildArgs[a ?? b] ?? m);
  const stages: Array<{ name: string; image: string; steps: Step[] }> = [];
  const all: Step[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const step = toStep(instruction, expand);
    all.push(step);
    if (step.keyword === 'FROM') {
      const [image, as, name] = step.args;
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name! : String(stages.length), steps: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.steps.push(step);
    }
  }
  return { text, buildArgs, stages, all };
}

function toStep(instruction: Instruction, expand: (s: string) => string): Step {
  const keyword = instruction.getKeyword().toUpperCase();
  const withFlags = instruction as Instruction & { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> };
  const flags = Object.fromEntries((withFlags.getFlags?.() ?? []).map((f) => [f.getName(), f.getValue() ?? '']));
  const content = expand(instruction.getArgumentsContent() ?? '');
  return {
    keyword,
    args: instruction.getArguments().map((a) => expand(a.getValue())),
    content,
    flags,
    exec: execForm(keyword === 'HEALTHCHECK' ? content.replace(/^CMD\s+/i, '') : content),
    line: instruction.getRange().start.line + 1,
  };
}

function execForm(content: string): string[] | undefined {
  if (!content.trim().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(content);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

export function stepsOf(stage: Stage, keyword: string): Step[] {
  return stage.steps.filter((s) => s.keyword === keyword);
}

/** The last step of a kind in a stage (CMD, USER, ...: the last one wins). */
export function lastOf(stage: Stage, keyword: string): Step | undefined {
  return stepsOf(stage, keyword).pop();
}

/** .dockerignore's patterns: top-level names and `*.ext` globs (the lint keeps it that way). */
export function readDockerignore(file = DOCKERIGNORE): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Whether .dockerignore keeps `relative` (a path inside the repository) out of the context. */
export function ignoredByDocker(relative: string, patterns: readonly string[]): boolean {
  const top = relative.split('/')[0]!;
  return patterns.some((p) => (p.startsWith('*.') ? !relative.includes('/') && relative.endsWith(p.slice(1)) : top === p));
}
