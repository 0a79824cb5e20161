/**
 * `node dist/bench/compare-store.js --base <another build>/dist/src`: ingest's database write
 * (storeEvents: one 1 KB event for three webhooks, bodies apart) of this build against another
 * build's, in one process on one MariaDB, in alternating blocks, so that both meet the same
 * machine. The machines these runs share swing by a third within minutes, which whole-bench runs
 * a few minutes apart cannot tell from a change; alternating blocks in one process can.
 *
 * Prints, per build, the median over the blocks (the first two rounds are warm-up, left out) of
 * this process's CPU per event, MariaDB's CPU per event (when it runs on this machine) and
 * events per second; and the ratios of this build to the base. `--concurrency N` stores N
 * events at once (each its own transaction), `--block` events per block, `--rounds` rounds of
 * one block per build. The other build must use the same migrations, or older ones.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/db/connect';
import { migrateLatest } from '../src/db/migrate';
import { parseDbUrl } from '../src/config/db-url';
import { storeEvents } from '../src/ingest/event-store';
import type { ValidEvent } from '../src/ingest/validate-event';
import { databaseServer, measureCpu } from './lib/cpu';
import { createDatabase, DEFAULT_MYSQL_URL, serverKnex } from './lib/database';

type Store = typeof storeEvents;
const WARM_UP_ROUNDS = 2;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      concurrency: { type: 'string', default: '1' },
      block: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '10' },
      'mysql-url': { type: 'string' },
    },
  });
  if (!values.base) throw new Error('--base <dist/src of the build to compare with> is required');
  const concurrency = Number(values.concurrency);
  const block = Number(values.block);
  const rounds = Number(values.rounds);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the other build, loaded beside this one
  const base = (require(path.resolve(values.base, 'ingest', 'event-store.js')) as { storeEvents: Store }).storeEvents;
  const builds: Record<'base' | 'this', Store> = { base, this: storeEvents };
  const url = values['mysql-url'] ?? process.env.WEBHOOKS_TEST_MYSQL_URL ?? DEFAULT_MYSQL_URL;
  const database = await createDatabase(url);
  const server = serverKnex(url);
  const db = connect(parseDbUrl(database.url));
  try {
    await migrateLatest(db);
    for (let i = 0; i < 3; i++) {
      await db('webhooks').insert({ id: `wh_${i}`, tenant_id: 't1', url: 'http://127.0.0.1:9/hooks', event_types: '["*"]', secret_sealed: 'unused', created_at: 1, updated_at: 1 });
    }
    const dbServer = await databaseServer(server);
    const body = JSON.stringify({ type: 'user.login', data: { pad: 'x'.repeat(900) } });
    let n = 0;
    const event = (): ValidEvent => ({ tenantId: 't1', id: `e-${n++}`, type: 'user.login', organizationId: null, occurredAt: Date.now(), payload: body, traceContext: null });
    const results: Record<'base' | 'this', Array<{ client: number; server: number | undefined; rate: number }>> = { base: [], this: [] };
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? (['base', 'this'] as const) : (['this', 'base'] as const)) {
        let left = block;
        const { cpu } = await measureCpu(process.pid, dbServer, () =>
          Promise.all(
            Array.from({ length: concurrency }, async () => {
              while (left-- > 0) await builds[name](db, [event()], Date.now(), undefined, true);
            }),
          ),
        );
        const row = { client: (cpu.childMs * 1000) / block, server: cpu.serverMs === undefined ? undefined : (cpu.serverMs * 1000) / block, rate: block / (cpu.wallMs / 1000) };
        process.stderr.write(`round ${round} ${name}: client ${row.client.toFixed(0)} µs, MariaDB ${row.server?.toFixed(0) ?? '?'} µs per event, ${row.rate.toFixed(0)} events/s\n`);
        if (round >= WARM_UP_ROUNDS) results[name].push(row);
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
    const line = (label: string, pick: (r: (typeof results)['base'][number]) => number | undefined, unit: string): string => {
      const of = (name: 'base' | 'this') => median(results[name].map(pick).filter((v): v is number => v !== undefined));
      return `${label}: base ${of('base').toFixed(0)} ${unit}, this ${of('this').toFixed(0)} ${unit}, ratio ${(of('this') / of('base')).toFixed(2)}`;
    };
    process.stdout.write(
      [
        `storeEvents, one event for three webhooks, ${concurrency} at once, ${block} per block, medians of ${Math.max(0, rounds - WARM_UP_ROUNDS)} rounds`,
        line('client CPU per event', (r) => r.client, 'µs'),
        line('MariaDB CPU per event', (r) => r.server, 'µs'),
        line('rate', (r) => r.rate, 'events/s'),
      ].join('\n') + '\n',
    );
  } finally {
    await db.destroy();
    await server.destroy();
    await database.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`compare-store failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
