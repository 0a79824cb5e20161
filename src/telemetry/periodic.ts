/**
 * A background task run every intervalMs, one run at a time (the next is scheduled when the last
 * ends, so a slow database never stacks them up). Runs happen outside any trace, with tracing
 * suppressed: a probe every second must not start a trace every second.
 */
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly task: () => Promise<void>,
  ) {}

  /** Runs the task now, then every intervalMs. */
  start(): void {
    this.stopped = false;
    this.runNow();
  }

  /** Waits for a run under way, and runs no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private runNow(): void {
    this.running = context
      .with(suppressTracing(ROOT_CONTEXT), () => this.task())
      .catch(() => undefined) // the task reports its own failures
      .finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(() => this.runNow(), this.intervalMs);
      });
  }
}
