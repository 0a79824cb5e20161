/**
 * `npm run bench`: starts MariaDB-backed sidecars (child processes) and local receivers, runs
 * each scenario, and prints a table whose figures stand beside baselines measured in the same
 * run. `--quick` runs a reduced version in seconds (the test suite runs it so that this code
 * never rots; it asserts no timings). Writes the rows as JSON to --out (bench-results.json).
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { EVENT_BODIES, type EventBodies } from '../src/config/config';
import { DEFAULT_MYSQL_URL } from './lib/database';
import { table, type BenchOptions, type Row } from './lib/report';
import { backlogScenario } from './scenarios/backlog';
import { deliveryScenario } from './scenarios/delivery';
import { ingestScenario } from './scenarios/ingest';
import { isolationScenario } from './scenarios/isolation';
import { layoutScenario } from './scenarios/layout';

const SCENARIOS: Record<string, (o: BenchOptions) => Promise<Row[]>> = {
  ingest: ingestScenario,
  delivery: deliveryScenario,
  isolation: isolationScenario,
  backlog: backlogScenario,
  layout: layoutScenario,
};

function isEventBodies(value: string | undefined): value is EventBodies {
  return (EVENT_BODIES as readonly (string | undefined)[]).includes(value);
}

function positiveNumber(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results.json' },
      only: { type: 'string' },
      backlog: { type: 'string' },
      'mysql-url': { type: 'string' },
      'event-bodies': { type: 'string', default: 'auto' },
      'delivery-rate': { type: 'string' },
    },
  });
  const quick = values.quick ?? false;
  const eventBodies = values['event-bodies'];
  if (!isEventBodies(eventBodies)) throw new Error(`--event-bodies must be one of ${EVENT_BODIES.join(', ')}`);
  const options: BenchOptions = {
    quick,
    mysqlUrl: values['mysql-url'] ?? process.env.WEBHOOKS_TEST_MYSQL_URL ?? DEFAULT_MYSQL_URL,
    backlog: Number(values.backlog ?? (quick ? 3_000 : 1_000_000)),
    eventBodies,
    deliveryRate: values['delivery-rate'] === undefined ? undefined : positiveNumber('--delivery-rate', values['delivery-rate']),
    log: (line) => process.stderr.write(`[bench] ${line}\n`),
  };
  const names = values.only ? values.only.split(',') : Object.keys(SCENARIOS);
  const rows: Row[] = [];
  for (const name of names) {
    const scenario = SCENARIOS[name];
    if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    options.log(`scenario ${name}${quick ? ' (quick)' : ''}`);
    rows.push(...(await scenario(options)));
  }
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  fs.writeFileSync(values.out!, JSON.stringify({ date: new Date().toISOString(), quick, eventBodies, machine, rows }, null, 2) + '\n');
  process.stdout.write(table(rows) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
