/**
 * The database's own limits, measured without the sidecar. The ceiling: the same rows the
 * sidecar writes per event (one event, three deliveries), inserted with plain multi-row INSERTs,
 * 100 events per transaction, by 4 connections at once — the best case for this MariaDB with full
 * durability, no validation, no gRPC. The floors: the latency of one event's commit, one at a
 * time and on an open-loop schedule.
 */
import { randomBytes } from 'node:crypto';
import { createPool } from 'mysql2';
import { performance } from 'node:perf_hooks';
import { createDatabase, mysqlConnection, serverKnex } from '../lib/database';
import { closedLoop, openLoop } from '../lib/load';
import { benchEvent } from '../lib/calls';
import { summarize, type Latency } from '../lib/stats';

export async function rawInsertCeiling(mysqlUrl: string, durationMs: number, fanout: number): Promise<number> {
  const db = await createDatabase(mysqlUrl);
  const knex = serverKnex(mysqlUrl, db.name);
  try {
    await createTables((sql) => knex.raw(sql));
    const payload = JSON.stringify(benchEvent('x').data);
    const run = await closedLoop(4, durationMs, async (i) => {
      const now = Date.now();
      const events = Array.from({ length: 100 }, (_, j) => ({ tenant_id: 't', id: `e-${i}-${j}`, type: 'user.login', occurred_at: now, created_at: now, delivery_count: fanout, payload }));
      const deliveries = events.flatMap((e) =>
        Array.from({ length: fanout }, (_, k) => ({ id: `d-${randomBytes(12).toString('hex')}`, tenant_id: 't', webhook_id: `w-${k}`, event_id: e.id, status: 'pending', next_attempt_at: now, created_at: now })),
      );
      await knex.transaction(async (trx) => {
        await trx('events').insert(events);
        await trx('deliveries').insert(deliveries);
      });
    });
    return (run.calls * 100) / run.seconds;
  } finally {
    await knex.destroy();
    await db.drop();
  }
}

async function createTables(run: (sql: string) => Promise<unknown>): Promise<void> {
  await run('CREATE TABLE events (tenant_id VARCHAR(64), id VARCHAR(128), type VARCHAR(64), occurred_at BIGINT, created_at BIGINT, delivery_count INT, payload MEDIUMTEXT, PRIMARY KEY (tenant_id, id))');
  await run('CREATE TABLE deliveries (id VARCHAR(40) PRIMARY KEY, tenant_id VARCHAR(64), webhook_id VARCHAR(40), event_id VARCHAR(128), status VARCHAR(16), next_attempt_at BIGINT, created_at BIGINT, INDEX (status, next_attempt_at))');
}

/**
 * The database's latency floor at an offered rate: each event's rows (1 event, `fanout`
 * deliveries) committed in a transaction of its own on a plain mysql2 connection (a pool of 8),
 * on the open-loop schedule the sidecar gets, with no gRPC, no validation and no batching.
 */
export async function openLoopCommits(mysqlUrl: string, rate: number, durationMs: number, fanout: number): Promise<Latency> {
  const db = await createDatabase(mysqlUrl);
  const pool = createPool({ ...mysqlConnection(mysqlUrl, db.name), connectionLimit: 8 }).promise();
  try {
    await createTables((sql) => pool.query(sql));
    const payload = JSON.stringify(benchEvent('x').data);
    const run = await openLoop(rate, durationMs, async (i) => {
      const now = Date.now();
      const c = await pool.getConnection();
      try {
        await c.query('BEGIN');
        await c.query('INSERT INTO events (tenant_id, id, type, occurred_at, created_at, delivery_count, payload) VALUES (?)', [['t', `e-${i}`, 'user.login', now, now, fanout, payload]]);
        await c.query('INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, status, next_attempt_at, created_at) VALUES ?', [
          Array.from({ length: fanout }, (_, k) => [`d-${randomBytes(12).toString('hex')}`, 't', `w-${k}`, `e-${i}`, 'paused', now, now]),
        ]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    });
    return summarize(run.latencies);
  } finally {
    await pool.end();
    await db.drop();
  }
}

/**
 * The floor under any acknowledged event's latency: one-row transactions, one at a time, with
 * the same durability (each commit waits for its log flush). No sidecar can answer faster.
 */
export async function commitLatency(mysqlUrl: string, commits: number): Promise<{ p50: number; p99: number }> {
  const db = await createDatabase(mysqlUrl);
  const knex = serverKnex(mysqlUrl, db.name);
  try {
    await knex.raw('CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(64))');
    const times: number[] = [];
    for (let i = 0; i < commits; i++) {
      const t = performance.now();
      await knex.transaction((trx) => trx('t').insert({ id: i, v: 'x' }));
      times.push(performance.now() - t);
    }
    const s = summarize(times);
    return { p50: s.p50, p99: s.p99 };
  } finally {
    await knex.destroy();
    await db.drop();
  }
}
