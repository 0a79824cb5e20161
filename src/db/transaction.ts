/**
 * The transaction ingest and the attempt recorder write in: the statements they need (SELECTs,
 * multi-row INSERTs, UPDATEs) on one connection, committed together or not at all.
 *
 * On MySQL it runs on a mysql2 connection taken from knex's pool (its settings, its limit), not
 * through knex. A knex transaction costs the client more than its statements do: five statements
 * (BEGIN, a SELECT, two INSERTs, COMMIT), one event a transaction at 1,000/s, cost the client
 * 609-727 µs of CPU per transaction through knex and 292-341 µs on the raw connection, and their
 * p99 was 11-111 ms against 3-8 ms (BENCHMARKS.md, sixth session).
 *
 * Its INSERTs of many rows are server-side prepared statements there. Through knex, an INSERT is SQL text with
 * every value spelled out, and MariaDB lexes each value: for an event that is its whole JSON body,
 * about 1 KB. 100 events and 300 deliveries per transaction, 4 connections: MariaDB used 109 µs of
 * CPU per event as text and 93 µs prepared, and inserted 11,989 against 14,568 events/s. A
 * statement is prepared per table, column list and row count and kept by the connection (bounded
 * by `maxPreparedStatements` in src/db/connect.ts); if the server refuses to prepare one more
 * (it caps them all, `max_prepared_stmt_count`), the rows go as text.
 *
 * The recorder's UPDATEs and attempt rows go as SQL text (src/outbox/record.ts): their SQL
 * changes with each batch's size, so preparing them would only churn the connection's statements.
 * Ingest's INSERTs of a few rows go as text too (src/ingest/event-store.ts), because statements as
 * text need no round trip of their own: BEGIN goes with the first statement sent, and a write
 * whose result nobody reads waits for the next statement sent, COMMIT at the latest, all in one
 * multi-statement query. A live event's transaction takes two round trips instead of six:
 * storing one event for three webhooks, one transaction at a time, cost the client 27% less CPU
 * and MariaDB 7% less, and ran 26% faster (BENCHMARKS.md, seventeenth session).
 *
 * On SQLite the same work runs in a knex transaction.
 */
import { SpanKind, SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { SERVICE_NAME } from '../telemetry/service';
import { isMysql } from './connect';

export interface Tx {
  /** True on MySQL, where some statements are spelled differently. */
  readonly mysql: boolean;
  /** The rows of a SELECT with `?` placeholders; `table` names its span. */
  select<Row>(table: string, sql: string, values: readonly unknown[]): Promise<Row[]>;
  /**
   * One multi-row INSERT of these columns (a missing value is NULL): a prepared statement on
   * MySQL unless `prepared` is false.
   */
  insert(table: string, columns: readonly string[], rows: readonly Record<string, unknown>[], options?: { prepared?: boolean }): Promise<void>;
  /** A statement that returns no rows (an UPDATE, an upsert), as SQL text with `?` placeholders. */
  run(operation: string, table: string, sql: string, values: readonly unknown[]): Promise<void>;
}

/** Commits what `work` wrote if it returns; rolls it back if it throws, and rethrows. */
export function transaction<T>(db: Knex, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (!isMysql(db)) return db.transaction((trx) => work(knexTx(trx)));
  return mysqlTransaction(db, work);
}

interface Mysql2Connection {
  query(sql: string, values: readonly unknown[], cb: (err: Error | null, rows?: unknown) => void): void;
  execute(sql: string, values: readonly unknown[], cb: (err: Error | null, rows?: unknown) => void): void;
  destroy(): void;
}

interface PoolClient {
  acquireConnection(): Promise<Mysql2Connection>;
  releaseConnection(connection: Mysql2Connection): Promise<void>;
}

/** MySQL's ER_MAX_PREPARED_STMT_COUNT_REACHED. */
const TOO_MANY_STATEMENTS = 1461;

/** knex's instrumentation does not see these statements, so they get spans of their own. */
const tracer = trace.getTracer(SERVICE_NAME);

/**
 * SQL text held for one multi-statement query at most, counting the values as they are before
 * escaping. MariaDB resets the connection on a query over max_allowed_packet (16 MiB by default),
 * and ingest's inserts of large events, 4 MiB of bodies each (src/ingest/event-store.ts), would
 * otherwise all go in one: two 8 MiB calls of 1 MiB events in a group commit made 16 MB.
 */
const MAX_HELD_BYTES = 4 * 1024 * 1024;

/** About the length of a statement as text: its SQL and its values (strings and buffers by length). */
function textBytes(sql: string, values: readonly unknown[]): number {
  let bytes = sql.length;
  for (const v of values) bytes += typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? v.length * 2 : 8;
  return bytes;
}

/** A statement whose result nobody reads, held until the next one that is sent, with its span. */
interface Deferred {
  readonly sql: string;
  readonly values: readonly unknown[];
  readonly span: Span;
}

async function mysqlTransaction<T>(db: Knex, work: (tx: Tx) => Promise<T>): Promise<T> {
  const client = db.client as PoolClient;
  const connection = await client.acquireConnection();
  const send = (sql: string, values: readonly unknown[] = [], prepared = false) =>
    new Promise<unknown>((resolve, reject) =>
      connection[prepared ? 'execute' : 'query'](sql, values, (err, rows) => (err ? reject(err) : resolve(rows))),
    );
  // Each round trip costs the client about 80 µs of CPU on this machine (a loop of `SELECT 1`),
  // more than most of these statements cost to run. So BEGIN goes with the first statement,
  // and the statements whose results nobody reads (UPDATEs, INSERTs as text) wait for the next
  // one that is sent, COMMIT at the latest: one multi-statement query (connect.ts allows them)
  // instead of one round trip each. MariaDB stops at the first statement that fails and reports
  // its error, which rolls the whole transaction back here as before; only the error surfaces
  // later, at the next statement sent, still inside the same transaction.
  let begun = false;
  let deferred: Deferred[] = [];
  let heldBytes = 0;
  /** Sends what is held (BEGIN first if not sent yet), with `last` after it; returns last's result. */
  const flush = async (last?: { sql: string; values: readonly unknown[] }): Promise<unknown> => {
    const statements = [...(begun ? [] : [{ sql: 'BEGIN', values: [] as readonly unknown[] }]), ...deferred, ...(last ? [last] : [])];
    const spans = deferred.map((d) => d.span);
    begun = true;
    deferred = [];
    heldBytes = 0;
    if (statements.length === 0) return undefined;
    try {
      const results = await send(
        statements.map((s) => s.sql).join(';\n'),
        statements.flatMap((s) => s.values),
      );
      return statements.length === 1 ? results : (results as unknown[])[statements.length - 1];
    } catch (err) {
      for (const span of spans) span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      for (const span of spans) span.end();
    }
  };
  const defer = (operation: string, database: string, table: string, sql: string, values: readonly unknown[]): Promise<void> => {
    // What is held goes first, on its own, if this statement would take the query past the bound.
    const bytes = textBytes(sql, values);
    const before = heldBytes > 0 && heldBytes + bytes > MAX_HELD_BYTES ? flush() : undefined;
    deferred.push({ sql, values, span: tracer.startSpan(`${operation} ${database}.${table}`, spanOptions(operation, table)) });
    heldBytes += bytes;
    return before ? before.then(() => undefined) : Promise.resolve();
  };
  // A connection goes back to the pool only outside a transaction; one whose ROLLBACK failed
  // (the link broke, most likely) is closed, and the pool replaces it.
  let reusable = false;
  try {
    const database = (db.client.config as { connection?: { database?: string } }).connection?.database ?? '';
    const result = await work({
      mysql: true,
      select: (table, sql, values) => traced('select', database, table, async () => (await flush({ sql, values })) as never[]),
      insert: (table, columns, rows, options) => {
        if (rows.length === 0) return Promise.resolve();
        const sql = insertSql(table, columns, rows.length);
        const values: unknown[] = [];
        for (const row of rows) for (const c of columns) values.push(row[c] ?? null);
        if (options?.prepared === false) return defer('insert', database, table, sql, values);
        return traced('insert', database, table, async () => {
          if (!begun || deferred.length > 0) await flush();
          await send(sql, values, true).catch((err: { errno?: number }) => {
            if (err.errno !== TOO_MANY_STATEMENTS) throw err;
            return send(sql, values);
          });
        });
      },
      run: (operation, table, sql, values) => defer(operation, database, table, sql, values),
    });
    // Nothing sent and nothing held: there is no transaction to commit.
    if (begun || deferred.length > 0) await flush({ sql: 'COMMIT', values: [] });
    reusable = true;
    return result;
  } catch (err) {
    for (const d of deferred) d.span.end(); // never sent: the transaction failed before them
    reusable = await send('ROLLBACK').then(
      () => true,
      () => false,
    );
    throw err;
  } finally {
    if (!reusable) connection.destroy();
    await client.releaseConnection(connection);
  }
}

function knexTx(trx: Knex.Transaction): Tx {
  return {
    mysql: false,
    select: async <Row>(_table: string, sql: string, values: readonly unknown[]) => (await trx.raw(sql, values as Knex.RawBinding[])) as Row[],
    insert: async (table, _columns, rows) => {
      if (rows.length > 0) await trx(table).insert(rows);
    },
    run: async (_operation, _table, sql, values) => void (await trx.raw(sql, values as Knex.RawBinding[])),
  };
}

function insertSql(table: string, columns: readonly string[], rowCount: number): string {
  const tuple = `(${columns.map(() => '?').join(',')})`;
  return `INSERT INTO \`${table}\` (${columns.map((c) => `\`${c}\``).join(',')}) VALUES ${Array(rowCount).fill(tuple).join(',')}`;
}

/** A client span named as knex's instrumentation names its own ("insert db.table"). */
function traced<T>(operation: string, database: string, table: string, run: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(
    `${operation} ${database}.${table}`,
    spanOptions(operation, table),
    async (span) => {
      try {
        return await run();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

function spanOptions(operation: string, table: string): SpanOptions {
  return { kind: SpanKind.CLIENT, attributes: { 'db.system': 'mysql', 'db.operation': operation, 'db.sql.table': table } };
}
