/**
 * Logs a repeated operation (a poll) that keeps failing without a line per try: a warning when it
 * starts failing, a reminder at most once a minute while it goes on (the tries between are at
 * debug level), and one line when it works again, saying for how long and how many tries failed.
 */
import { describeError } from './describe-error';
import type { Logger } from './logger';

const REMIND_EVERY_MS = 60_000;

export class OutageLog {
  private failures = 0;
  private since = 0;
  private warnedAt = 0;

  constructor(
    private readonly logger: Logger,
    /** What failed, as a log message begins: "claiming deliveries". */
    private readonly what: string,
    private readonly clock: () => number = Date.now,
  ) {}

  failed(err: unknown): void {
    const now = this.clock();
    this.failures += 1;
    if (this.failures === 1) this.since = now;
    const fields = { error: describeError(err), failures: this.failures, failingForMs: now - this.since };
    if (this.failures === 1 || now - this.warnedAt >= REMIND_EVERY_MS) {
      this.warnedAt = now;
      this.logger.warn(fields, `${this.what} failed; retrying (repeats are logged at debug level, with a reminder each minute)`);
    } else {
      this.logger.debug(fields, `${this.what} failed again`);
    }
  }

  succeeded(): void {
    if (this.failures === 0) return;
    const now = this.clock();
    this.logger.info({ failures: this.failures, failedForMs: now - this.since }, `${this.what} works again`);
    this.failures = 0;
  }
}
