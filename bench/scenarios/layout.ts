/**
 * Where event bodies go (WEBHOOKS_EVENT_BODIES), measured on the database alone: events with
 * UUID ids, as an identity core sends them, about 1 KB each, fan-out 3, their rows made as ingest
 * makes them (eventRow through insertEvents, deliveryRow) and written into the migrated schema with multi-row INSERTs,
 * 100 events a transaction, 4 connections. Each layout writes the same number of events into a
 * fresh database, enough to outgrow a default 128 MB buffer pool several times, and the last
 * tenth is measured apart: by then an insert that lands in the middle of a table reads its page
 * from disk.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { parseDbUrl } from '../../src/config/db-url';
import { connect } from '../../src/db/connect';
import { migrateLatest } from '../../src/db/migrate';
import { deliveryRow, insertEvents } from '../../src/ingest/outbox-rows';
import { renderPayload } from '../../src/ingest/validate-event';
import { benchEvent, TENANT } from '../lib/calls';
import { measureCpu, type CpuUse, databaseServer } from '../lib/cpu';
import { createDatabase, serverKnex } from '../lib/database';
import type { BenchOptions, Row } from '../lib/report';

const CONNECTIONS = 4;
const BATCH = 100;
const FANOUT = 3;

interface LayoutRun {
  readonly seconds: number;
  readonly last: { readonly rate: number; readonly cpu: CpuUse; readonly events: number; readonly reads: number };
}

export async function layoutScenario(o: BenchOptions): Promise<Row[]> {
  const events = o.quick ? 2_000 : 600_000;
  const inline = await writeEvents(o, events, false);
  const apart = await writeEvents(o, events, true);
  const rate = (r: LayoutRun) => events / r.seconds;
  const lastNote = (r: LayoutRun) =>
    `last tenth: ${r.last.rate.toFixed(0)} events/s, MariaDB ${r.last.cpu.serverMs === undefined ? '?' : ((r.last.cpu.serverMs * 1000) / r.last.events).toFixed(0)} µs and ` +
    `${(r.last.reads / r.last.events).toFixed(2)} buffer pool reads from disk per event`;
  return [
    {
      scenario: 'layout',
      metric: `${events} UUID-keyed events written, bodies in event_payloads (WEBHOOKS_EVENT_BODIES=separate)`,
      value: rate(apart),
      unit: 'events/s',
      baseline: { name: 'bodies in events (upgraded databases\' default)', value: rate(inline) },
      note: `${apart.seconds.toFixed(1)} s against ${inline.seconds.toFixed(1)} s; ${lastNote(apart)}; with bodies in events, ${lastNote(inline)}`,
    },
  ];
}

async function writeEvents(o: BenchOptions, total: number, separate: boolean): Promise<LayoutRun> {
  const database = await createDatabase(o.mysqlUrl);
  const db = connect(parseDbUrl(database.url), { poolMax: CONNECTIONS });
  const server = serverKnex(o.mysqlUrl);
  try {
    await migrateLatest(db);
    const sample = benchEvent('x');
    const started = Date.now();
    const fill = Math.floor((total * 0.9) / BATCH) * BATCH;
    await writeRange(db, fill, separate, sample);
    const reads = await poolReads(server);
    const measured = await measureCpu(process.pid, await databaseServer(server), () => writeRange(db, total - fill, separate, sample));
    const seconds = (Date.now() - started) / 1000;
    const last = total - fill;
    o.log(`layout ${separate ? 'separate' : 'events'}: ${total} events in ${seconds.toFixed(1)} s`);
    return {
      seconds,
      last: { rate: (last * 1000) / measured.cpu.wallMs, cpu: measured.cpu, events: last, reads: (await poolReads(server)) - reads },
    };
  } finally {
    await db.destroy();
    await server.destroy();
    await database.drop();
  }
}

/** `count` events, in transactions of BATCH, CONNECTIONS at once. */
async function writeRange(db: Knex, count: number, separate: boolean, sample: ReturnType<typeof benchEvent>): Promise<void> {
  let next = 0;
  const writer = async () => {
    while (next < count) {
      const n = Math.min(BATCH, count - next);
      next += n;
      const now = Date.now();
      const events = Array.from({ length: n }, () => {
        const valid = { tenantId: TENANT, id: randomUUID(), type: sample.type, organizationId: null, occurredAt: now };
        return { ...valid, payload: renderPayload(valid, sample.data!) };
      });
      const deliveries = events.flatMap((e) => Array.from({ length: FANOUT }, (_, k) => deliveryRow(e, `wh_${k}`, now, false)));
      await db.transaction(async (trx) => {
        await insertEvents(trx, events, FANOUT, now, separate);
        await trx('deliveries').insert(deliveries);
      });
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, writer));
}

async function poolReads(server: Knex): Promise<number> {
  const [rows] = (await server.raw("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")) as [Array<{ Value: string }>];
  return Number(rows[0]?.Value ?? NaN);
}
