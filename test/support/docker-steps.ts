/**
 * Runs a Dockerfile's stages without a Docker engine, for test/e2e/dockerfile-build.test.ts: each
 * stage gets a folder standing for its root filesystem; WORKDIR, ENV and COPY (from the context
 * or `--from` an earlier stage) are carried out on those folders, and RUN steps that are npm
 * commands run there for real. System set-up that needs the image's own root (apt-get, users)
 * cannot run here: it is reported as skipped, and a RUN of any other kind fails the test, so a
 * new step in the Dockerfile is either run here or consciously added to SYSTEM_SETUP.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ignoredByDocker, ROOT, type ParsedDockerfile, type Stage, type Step } from './dockerfile';

/** RUN commands that configure the base image's system: skipped here, reported. */
const SYSTEM_SETUP = /^(apt-get|groupadd|useradd)\b/;
/** `mkdir -p DIR && chown UID:GID DIR`, which is done here on the stage folder. */
const MKDIR_CHOWN = /^mkdir -p (\S+) && chown (\d+):(\d+) \1$/;
const NPM = /^npm (ci|run|prune)\b/;

export interface StageState {
  readonly stage: Stage;
  /** The folder standing for the stage's `/`. */
  readonly root: string;
  workdir: string;
  readonly env: Record<string, string>;
  user: string | undefined;
}

export interface RunReport {
  readonly states: Map<string, StageState>;
  readonly skipped: string[];
  readonly timings: Array<{ step: string; ms: number }>;
}

/**
 * The build context: the repository's files as git sees them (tracked, and new ones not
 * ignored), minus what .dockerignore leaves out, copied to `dir`.
 */
export function makeContext(dir: string, dockerignore: readonly string[]): number {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  let copied = 0;
  for (const file of listed.split('\0').filter((f) => f !== '')) {
    const source = path.join(ROOT, file);
    if (ignoredByDocker(file, dockerignore) || !fs.existsSync(source)) continue;
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(source, path.join(dir, file));
    copied += 1;
  }
  return copied;
}

export async function runStages(df: ParsedDockerfile, context: string, out: string, log: (line: string) => void): Promise<RunReport> {
  const report: RunReport = { states: new Map(), skipped: [], timings: [] };
  for (const stage of df.stages) {
    const state: StageState = { stage, root: path.join(out, stage.name), workdir: '/', env: {}, user: undefined };
    fs.mkdirSync(state.root, { recursive: true, mode: 0o755 });
    report.states.set(stage.name, state);
    for (const step of stage.steps) {
      const started = Date.now();
      await runStep(step, state, { context, report, log });
      report.timings.push({ step: `${stage.name}: ${step.keyword} ${step.content}`.slice(0, 90), ms: Date.now() - started });
    }
  }
  return report;
}

/** A path inside the stage, as a path on this machine. */
export function inStage(state: StageState, p: string): string {
  return path.join(state.root, path.posix.resolve(state.workdir, p));
}

async function runStep(step: Step, state: StageState, ctx: { context: string; report: RunReport; log: (line: string) => void }): Promise<void> {
  switch (step.keyword) {
    case 'WORKDIR':
      state.workdir = path.posix.resolve(state.workdir, step.args[0]!);
      fs.mkdirSync(inStage(state, '.'), { recursive: true, mode: 0o755 });
      return;
    case 'ENV':
      for (const pair of step.args) {
        const [k, ...v] = pair.split('=');
        state.env[k!] = v.join('=');
      }
      return;
    case 'USER':
      state.user = step.args[0];
      return;
    case 'COPY':
      return copy(step, state, ctx.context, ctx.report);
    case 'RUN':
      return run(step, state, ctx.report, ctx.log);
    default:
      return; // EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD, LABEL: read by the test itself
  }
}

function copy(step: Step, state: StageState, context: string, report: RunReport): void {
  const from = step.flags.from;
  const sources = step.args.slice(0, -1);
  const dest = step.args[step.args.length - 1]!;
  for (const src of sources) {
    const source = from === undefined ? path.join(context, src) : path.join(stageNamed(report, from).root, src);
    if (!fs.existsSync(source)) throw new Error(`line ${step.line}: COPY source ${src} does not exist${from ? ` in stage ${from}` : ' in the context'}`);
    const into = dest.endsWith('/') || sources.length > 1;
    const target = into && !fs.statSync(source).isDirectory() ? path.join(inStage(state, dest), path.basename(src)) : inStage(state, dest);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    // A directory's contents land in the destination, as COPY does; .bin links stay relative.
    fs.cpSync(source, target, { recursive: true, verbatimSymlinks: true });
  }
}

function stageNamed(report: RunReport, name: string): StageState {
  const found = report.states.get(name);
  if (!found) throw new Error(`COPY --from=${name}: no earlier stage of that name`);
  return found;
}

async function run(step: Step, state: StageState, report: RunReport, log: (line: string) => void): Promise<void> {
  const command = step.content.trim();
  const chown = MKDIR_CHOWN.exec(command);
  if (chown) {
    const dir = inStage(state, chown[1]!);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (process.getuid?.() === 0) fs.chownSync(dir, Number(chown[2]), Number(chown[3]));
    else report.skipped.push(`line ${step.line}: chown ${chown[2]}:${chown[3]} (not root here)`);
    return;
  }
  if (SYSTEM_SETUP.test(command)) {
    report.skipped.push(`line ${step.line} (${state.stage.name}): ${command.slice(0, 100)}`);
    return;
  }
  if (!NPM.test(command)) throw new Error(`line ${step.line}: a RUN this test cannot stand in for: ${command}`);
  log(`[${state.stage.name}] $ ${command}`);
  await shell(command, inStage(state, '.'), state.env);
}

function shell(command: string, cwd: string, stageEnv: Record<string, string>): Promise<void> {
  // Only what a fresh image has, plus the local npm cache: no npm_* settings of the test's own run.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stageEnv, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}:\n${output.slice(-4000)}`))));
  });
}
