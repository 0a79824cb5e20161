/**
 * CPU time each process spent on a measured run, from /proc: on a shared, noisy machine the
 * rates move from run to run, but the CPU a unit of work costs moves much less, so it is the
 * figure that shows whether a change made the sidecar (or its database) cheaper.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Knex } from 'knex';
import type { Row } from './report';

/** Linux reports utime and stime in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const TICK_MS = 10;

export interface CpuUse {
  readonly wallMs: number;
  readonly childMs: number;
  /** Undefined when the database server does not run on this machine (or its pid is unreadable). */
  readonly serverMs: number | undefined;
  /** This process: the load generator, and in the delivery scenarios the receivers too. */
  readonly benchMs: number;
  /**
   * Statements the database server received (its Questions counter: each one a round trip,
   * BEGIN and COMMIT included) and transactions it committed, from every client; undefined
   * when no database was measured.
   */
  readonly statements: number | undefined;
  readonly commits: number | undefined;
}

/** The database server the sidecar uses: its pid when it runs on this machine, and a connection for its counters. */
export interface DatabaseServer {
  readonly pid: number | undefined;
  readonly db: Knex;
}

function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

function optionalCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return processCpuMs(pid);
  } catch {
    return undefined;
  }
}

/** The MariaDB/MySQL server behind `db`, with its pid when it runs on this machine (from its pid file). */
export async function databaseServer(db: Knex): Promise<DatabaseServer> {
  try {
    const [rows] = (await db.raw('SELECT @@pid_file AS f')) as [Array<{ f: string }>];
    const pid = Number(fs.readFileSync(rows[0]!.f, 'utf8').trim());
    return { db, pid: Number.isInteger(pid) && optionalCpuMs(pid) !== undefined ? pid : undefined };
  } catch {
    return { db, pid: undefined };
  }
}

async function serverCounters(db: Knex): Promise<{ statements: number; commits: number }> {
  const [rows] = (await db.raw("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit')")) as [
    Array<{ Variable_name: string; Value: string }>,
  ];
  const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value ?? NaN);
  return { statements: value('Questions'), commits: value('Com_commit') };
}

/**
 * Runs `work` and returns its result with the CPU the child, the server and this process used
 * meanwhile, and the statements and commits the server saw.
 */
export async function measureCpu<T>(
  childPid: number,
  server: DatabaseServer | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; cpu: CpuUse }> {
  const counted = server && (await serverCounters(server.db));
  const start = { wall: Date.now(), child: processCpuMs(childPid), server: optionalCpuMs(server?.pid), bench: process.cpuUsage() };
  const result = await work();
  const serverMs = optionalCpuMs(server?.pid);
  const bench = process.cpuUsage(start.bench);
  const childMs = processCpuMs(childPid) - start.child;
  const wallMs = Date.now() - start.wall;
  const counters = server && (await serverCounters(server.db));
  return {
    result,
    cpu: {
      wallMs,
      childMs,
      serverMs: serverMs === undefined || start.server === undefined ? undefined : serverMs - start.server,
      benchMs: (bench.user + bench.system) / 1000,
      statements: counters && counted && counters.statements - counted.statements,
      commits: counters && counted && counters.commits - counted.commits,
    },
  };
}

/**
 * A row: the child's CPU per unit of work in µs, with the server's and this process's in the
 * note, and the child's share of a core.
 */
export function cpuRow(scenario: string, metric: string, cpu: CpuUse, units: number, unit: string, baseline?: Row['baseline']): Row {
  const per = (ms: number) => (ms * 1000) / Math.max(1, units);
  const server = cpu.serverMs === undefined ? 'MariaDB not local' : `MariaDB ${per(cpu.serverMs).toFixed(0)} µs`;
  const cores = (ms: number | undefined) => (ms === undefined ? '?' : `${((100 * ms) / cpu.wallMs).toFixed(0)}%`);
  const statements =
    cpu.statements === undefined || cpu.commits === undefined
      ? ''
      : `; per ${unit}: ${(cpu.statements / Math.max(1, units)).toFixed(2)} statements, ${(cpu.commits / Math.max(1, units)).toFixed(2)} commits`;
  return {
    scenario,
    metric,
    value: per(cpu.childMs),
    unit: `µs per ${unit}`,
    note:
      `${server}, bench process ${per(cpu.benchMs).toFixed(0)} µs; cores busy: child ${cores(cpu.childMs)}, MariaDB ${cores(cpu.serverMs)}, bench ${cores(cpu.benchMs)}` +
      statements,
    ...(baseline ? { baseline } : {}),
  };
}

/**
 * One line for a row's note: the CPU each process spent per unit, and the three together as a
 * share of one core (of the machine's two, this much was busy).
 */
export function describeCpu(cpu: CpuUse, units: number): string {
  const per = (ms: number | undefined) => (ms === undefined ? '?' : ((ms * 1000) / Math.max(1, units)).toFixed(0));
  const total = cpu.childMs + (cpu.serverMs ?? 0) + cpu.benchMs;
  return (
    `CPU per call: sidecar ${per(cpu.childMs)} µs, MariaDB ${per(cpu.serverMs)}, bench ${per(cpu.benchMs)}; ` +
    `the three at ${((100 * total) / cpu.wallMs).toFixed(0)}% of a core`
  );
}

/**
 * A rate against what this machine's cores could do if every one of them ran this work: the
 * cores divided by the CPU one unit cost the sidecar, the database server and the bench process
 * together. Near 100%, the run was bound by CPU, and only cheaper work goes faster; well below,
 * something waited (a commit, a round trip, a lockstep between client and server). The kernel's
 * work outside these three processes is not counted, so the bound is a little high. No row when
 * the database server's CPU was not measured.
 */
export function cpuBoundRows(scenario: string, metric: string, rate: number, unit: string, cpu: CpuUse, units: number, per: string): Row[] {
  if (cpu.serverMs === undefined) return [];
  const cores = os.availableParallelism();
  const totalMs = cpu.childMs + cpu.serverMs + cpu.benchMs;
  const usPerUnit = (totalMs * 1000) / Math.max(1, units);
  const row: Row = {
    scenario,
    metric,
    value: rate,
    unit,
    note: `all three processes ${Math.round(usPerUnit).toLocaleString('en-US')} µs per ${per}, ${((100 * totalMs) / cpu.wallMs).toFixed(0)}% of a core between them`,
    baseline: { name: `CPU bound: ${cores} cores / ${Math.round(usPerUnit).toLocaleString('en-US')} µs`, value: (cores * 1e6) / usPerUnit },
  };
  return [row];
}
