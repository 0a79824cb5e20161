/**
 * The CLI's dispatcher: `webhooks-sidecar GROUP [COMMAND] [flags]`. It returns an exit code
 * rather than exiting, so tests run it in-process against a real sidecar: 0 done, 1 the call
 * failed (or the check found it unhealthy), 2 bad usage or configuration.
 */
import { ConfigError } from '../config';
import { COMMON_USAGE, parse, UsageError } from './args';
import { Context, type CliIo, type Command, type Group } from './command';
import { dbGroup } from './db';
import { deliveriesGroup } from './deliveries';
import { eventsGroup } from './events';
import { healthGroup } from './health';
import { statsGroup } from './stats';
import { webhooksGroup } from './webhooks';

export const PROGRAM = 'webhooks-sidecar';
export const GROUPS: readonly Group[] = [webhooksGroup, deliveriesGroup, statsGroup, eventsGroup, dbGroup, healthGroup];

export type { CliIo };

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, second] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    (first === undefined ? io.stderr : io.stdout).write(mainHelp());
    return first === undefined ? 2 : 0;
  }
  const group = GROUPS.find((g) => g.name === first || g.aliases?.includes(first));
  if (!group) return usageError(io, `unknown command "${first}"`, mainHelp());
  const single = isSingle(group);
  const command = single ? group.commands[0] : group.commands.find((c) => c.name === second);
  if (!command) {
    if (second === undefined || second === '--help' || second === '-h') {
      io.stdout.write(groupHelp(group));
      return second === undefined ? 2 : 0;
    }
    return usageError(io, `unknown command "${first} ${second}"`, groupHelp(group));
  }
  return runCommand(io, group, command, argv.slice(single ? 1 : 2));
}

async function runCommand(io: CliIo, group: Group, command: Command, rest: readonly string[]): Promise<number> {
  let ctx: Context | undefined;
  try {
    const args = parse(rest, command.options ?? {});
    if (args.values.help === true) {
      io.stdout.write(commandHelp(group, command));
      return 0;
    }
    ctx = new Context(io, args);
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) return usageError(io, err.message, `usage: ${usageLine(group, command)}\n`);
    if (err instanceof ConfigError) {
      io.stderr.write(`Invalid configuration: ${err.message}\n`);
      return 2;
    }
    io.stderr.write(`error: ${describe(err)}\n`);
    return 1;
  } finally {
    ctx?.close();
  }
}

/** A gRPC error as "NOT_FOUND: webhook ... not found"; anything else by its message. */
function describe(err: unknown): string {
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof e.code === 'number' && typeof e.details === 'string') return `${grpcCodeName(e.code)}: ${e.details}`;
  return typeof e.message === 'string' ? e.message : String(err);
}

const CODE_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}

function usageError(io: CliIo, message: string, help: string): number {
  io.stderr.write(`error: ${message}\n${help}`);
  return 2;
}

function isSingle(group: Group): boolean {
  return group.commands.length === 1 && group.commands[0]!.name === group.name;
}

function usageLine(group: Group, command: Command): string {
  const name = isSingle(group) ? group.name : `${group.name} ${command.name}`;
  return `${PROGRAM} ${name} ${command.usage}`.trimEnd();
}

function mainHelp(): string {
  const lines = GROUPS.flatMap((g) =>
    g.commands.map((c) => `  ${(isSingle(g) ? g.name : `${g.name} ${c.name}`).padEnd(28)}${c.summary}`),
  );
  return `usage: ${PROGRAM} COMMAND [flags]\n\nCommands:\n${lines.join('\n')}\n\n${COMMON_USAGE}\n\n` +
    `Run "${PROGRAM} COMMAND --help" for a command's flags.\n`;
}

function groupHelp(group: Group): string {
  const lines = group.commands.map((c) => `  ${usageLine(group, c)}\n      ${c.summary}`);
  return `${group.summary}:\n${lines.join('\n')}\n`;
}

function commandHelp(group: Group, command: Command): string {
  return `usage: ${usageLine(group, command)}\n\n${command.summary}\n\n${COMMON_USAGE}\n`;
}
