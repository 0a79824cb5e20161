/**
 * The one clock for times written to, or compared with, the shared database: lease ends,
 * next_attempt_at, due checks. Replicas on one MySQL must agree on it, and their own clocks may
 * not (a replica running 30 s ahead took live leases and sent retries early), so it is the
 * database's clock. Asking the database on every claim would add a round trip to the hot path:
 * instead the offset between the database's clock and this process's is measured at start and
 * refreshed in the background, and now() is the process clock plus that offset.
 *
 * SQLite is one process's database: its clock is the process clock (ProcessClock).
 * Purely local times (timeouts, latency, metrics) keep using Date.now().
 */
import type { Db } from './connect';
import { isMysql } from './connect';
import type { Logger } from '../telemetry/logger';
import { describeError } from '../telemetry/describe-error';

export interface Clock {
  /** Milliseconds since the epoch, as the database would say. */
  now(): number;
}

/** SQLite, and parts built alone in tests: the process clock. */
export const PROCESS_CLOCK: Clock = { now: () => Date.now() };

/** A reading of the database clock: the process clock just before and just after it. */
export interface Sample {
  readonly before: number;
  readonly dbMs: number;
  readonly after: number;
}

/**
 * The offset from the sample with the shortest round trip (the tightest bound). The database read
 * its clock somewhere inside the round trip: the middle is the best guess, half the trip the error.
 */
export function offsetOf(samples: readonly Sample[]): { offsetMs: number; errorMs: number } {
  if (samples.length === 0) throw new Error('no clock samples');
  const best = samples.reduce((a, b) => (b.after - b.before < a.after - a.before ? b : a));
  return { offsetMs: Math.round(best.dbMs - (best.before + best.after) / 2), errorMs: (best.after - best.before) / 2 };
}

/** Samples per measurement: the shortest round trip of a few is less disturbed by a busy pool. */
const SAMPLES = 3;
/** Clocks drift slowly (NTP slews a few ms a minute at most): a refresh twice a minute suffices. */
const REFRESH_MS = 30_000;
/** After a failed read the last offset stays in use, and the next try comes sooner. */
const RETRY_MS = 5_000;
/** Beyond this the replicas' clocks disagree enough for an operator to look at NTP. */
export const WARN_OFFSET_MS = 1_000;

export interface DbClockOptions {
  readonly logger?: Logger;
  readonly refreshMs?: number;
  readonly retryMs?: number;
}

export class DbClock implements Clock {
  private offsetMs = 0;
  private errorMs = 0;
  private warned = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** `readDbMs` reads the database's clock once (dbClockReader). */
  constructor(
    private readonly readDbMs: () => Promise<number>,
    private readonly options: DbClockOptions = {},
  ) {}

  now(): number {
    return Date.now() + this.offsetMs;
  }

  get offset(): { offsetMs: number; errorMs: number } {
    return { offsetMs: this.offsetMs, errorMs: this.errorMs };
  }

  /** Measures once (failing if the database cannot be read), then refreshes in the background. */
  async start(): Promise<void> {
    await this.measure();
    this.schedule(this.options.refreshMs ?? REFRESH_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async measure(): Promise<void> {
    const samples: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const before = Date.now();
      const dbMs = await this.readDbMs();
      samples.push({ before, dbMs, after: Date.now() });
    }
    ({ offsetMs: this.offsetMs, errorMs: this.errorMs } = offsetOf(samples));
    if (!this.warned && Math.abs(this.offsetMs) > WARN_OFFSET_MS) {
      this.warned = true;
      this.options.logger?.warn(
        { offsetMs: this.offsetMs, errorMs: this.errorMs },
        "this process's clock disagrees with the database's; leases and retries follow the database's clock, but run NTP on every host",
      );
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.measure().then(
        () => this.schedule(this.options.refreshMs ?? REFRESH_MS),
        (err: unknown) => {
          this.options.logger?.warn({ error: describeError(err) }, 'reading the database clock failed; the last offset stays in use');
          this.schedule(this.options.retryMs ?? RETRY_MS);
        },
      );
    }, delayMs);
    this.timer.unref();
  }
}

/**
 * The database's clock in ms since the epoch. UTC_TIMESTAMP, not NOW(): no session time zone
 * (nor its daylight-saving hour) can shift it.
 */
export function dbClockReader(db: Db): () => Promise<number> {
  return async () => {
    const [rows] = (await db.raw("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS us")) as [
      Array<{ us: number | string }>,
    ];
    return Math.floor(Number(rows[0]!.us) / 1000);
  };
}

/** The clock for this database: measured on MySQL, the process clock on SQLite. */
export async function clockFor(db: Db, logger: Logger): Promise<Clock & { stop(): void }> {
  if (!isMysql(db)) return { now: PROCESS_CLOCK.now, stop: () => undefined };
  const clock = new DbClock(dbClockReader(db), { logger });
  await clock.start();
  return clock;
}
