/** Collects every log line a sidecar writes: createLogger(level, new MemoryLog()). */
import { Writable } from 'node:stream';

export class MemoryLog extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    done();
  }
  get text(): string {
    return this.lines.join('');
  }
  /** The parsed lines whose msg starts with `prefix`. */
  messages(prefix: string): Array<Record<string, unknown>> {
    return this.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => typeof l.msg === 'string' && l.msg.startsWith(prefix));
  }
}
