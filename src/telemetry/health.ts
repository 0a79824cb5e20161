/**
 * Readiness: the sidecar takes calls when it has started, its database answers, and it is not
 * shutting down. The gRPC health service and GET /readyz both follow it; GET /healthz only says
 * the process is alive (a database outage is no reason for Kubernetes to restart the pod).
 *
 * The database is probed with `SELECT 1` every PROBE_INTERVAL_MS through the app's own pool, the
 * path ingest uses; a probe that fails, or takes longer than PROBE_TIMEOUT_MS, marks it
 * unreachable until one succeeds. Ingest does not wait for the probe: while the database is down
 * its commits fail at once (connections are refused) and answer UNAVAILABLE anyway.
 */
import type { Knex } from 'knex';
import { describeError } from './describe-error';
import type { Logger } from './logger';
import { Periodic } from './periodic';

const PROBE_INTERVAL_MS = 2_000;
/** Generous: a busy pool hands out a connection in milliseconds; a dead database never does. */
const PROBE_TIMEOUT_MS = 5_000;

export interface ReadinessState {
  readonly ready: boolean;
  readonly started: boolean;
  readonly databaseReachable: boolean;
  readonly stopping: boolean;
}

export class Readiness {
  private started = false;
  private databaseReachable = true;
  private stopping = false;
  private readonly listeners: Array<(ready: boolean) => void> = [];

  get state(): ReadinessState {
    const { started, databaseReachable, stopping } = this;
    return { ready: started && databaseReachable && !stopping, started, databaseReachable, stopping };
  }

  get ready(): boolean {
    return this.state.ready;
  }

  /** Called now with the current value, then on every change. */
  onChange(listener: (ready: boolean) => void): void {
    this.listeners.push(listener);
    listener(this.ready);
  }

  markStarted(): void {
    this.update(() => (this.started = true));
  }

  markStopping(): void {
    this.update(() => (this.stopping = true));
  }

  setDatabaseReachable(reachable: boolean): void {
    this.update(() => (this.databaseReachable = reachable));
  }

  private update(change: () => void): void {
    const before = this.ready;
    change();
    if (this.ready !== before) for (const listener of this.listeners) listener(this.ready);
  }
}

/** Probes the database periodically and reports to readiness, logging each change once. */
export function databaseProbe(db: Knex, readiness: Readiness, logger: Logger): Periodic {
  return new Periodic(PROBE_INTERVAL_MS, async () => {
    let failure: unknown;
    try {
      await withTimeout(db.raw('SELECT 1'), PROBE_TIMEOUT_MS);
    } catch (err) {
      failure = err;
    }
    const wasReachable = readiness.state.databaseReachable;
    readiness.setDatabaseReachable(failure === undefined);
    if (failure !== undefined && wasReachable) {
      logger.error({ error: describeError(failure) }, 'database unreachable; not ready until it answers again');
    } else if (failure === undefined && !wasReachable) {
      logger.info('database reachable again; ready');
    }
  });
}

function withTimeout<T>(promise: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}
