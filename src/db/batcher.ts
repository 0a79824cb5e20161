/**
 * Gathers concurrent submissions into one write: group commit. The first submission after an
 * idle moment is written on the next turn of the event loop (with whatever else arrived in that
 * turn), or after gatherMs where a writer asks for that; submissions that arrive while a write is
 * under way wait for it and go together in the next one, up to maxWeight. Each submission settles
 * only after the write that holds it, so a caller that is answered knows its data is committed,
 * and a failed write fails only its own.
 *
 * Under load a batch grows by itself to what one commit takes, which is the point: the database's
 * cost per commit (a log flush, a hot row's lock) is paid once per batch instead of once per item.
 */
export interface BatcherOptions<In> {
  /** Weight per write at most (a single heavier submission still goes alone). */
  readonly maxWeight: number;
  readonly weightOf?: (item: In) => number;
  /** A second bound per write, in bytes (sizeOf), kept the same way as maxWeight. */
  readonly maxBytes?: number;
  readonly sizeOf?: (item: In) => number;
  /**
   * Writes under way at once (default 1). More than one overlaps the round trips of one write
   * with the commit of another; the database still groups their log flushes.
   */
  readonly maxInFlight?: number;
  /**
   * How long the first submission after an idle moment waits for company, in ms. Unset, it is
   * written on the next turn of the event loop. Under load it makes no difference: submissions
   * pile up while a write is under way.
   */
  readonly gatherMs?: number;
  /**
   * The least time from one write's start to the next one's, in ms (default 0: the next starts
   * as soon as the last ends). A writer whose callers do not wait on it can ask for this so that
   * a write made faster does not shrink its batches: a batch's fixed costs (its commit, its
   * per-batch statements) are then paid as seldom as before.
   */
  readonly minSpacingMs?: number;
}

interface Waiting<In, Out> {
  readonly item: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (err: unknown) => void;
}

export class Batcher<In, Out> {
  private queue: Array<Waiting<In, Out>> = [];
  private writing = 0;
  private scheduled = false;
  private lastStartAt = -Infinity;

  /** `write` returns one output per input, in order. */
  constructor(
    private readonly write: (items: readonly In[]) => Promise<Out[]>,
    private readonly options: BatcherOptions<In>,
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private get full(): boolean {
    return this.writing >= (this.options.maxInFlight ?? 1);
  }

  private schedule(): void {
    if (this.full) return;
    this.writeIn(Math.max(this.options.gatherMs ?? 0, this.spacingLeft()));
  }

  /** Writes what is queued after `ms`, or on the next turn; once, however often it is asked. */
  private writeIn(ms: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const write = (): void => {
      this.scheduled = false;
      void this.writeNext();
    };
    if (ms > 0) setTimeout(write, ms);
    else setImmediate(write);
  }

  private async writeNext(): Promise<void> {
    if (this.full || this.queue.length === 0) return;
    this.writing += 1;
    this.lastStartAt = performance.now();
    const batch = this.take();
    try {
      const outs = await this.write(batch.map((w) => w.item));
      batch.forEach((waiting, i) => waiting.resolve(outs[i]!));
    } catch (err) {
      for (const waiting of batch) waiting.reject(err);
    } finally {
      this.writing -= 1;
      // What queued up meanwhile has waited one write already: write it at once, or once the
      // spacing asked for has passed.
      const wait = this.spacingLeft();
      if (this.queue.length > 0) {
        if (wait <= 0) void this.writeNext();
        else this.writeIn(wait);
      }
    }
  }

  /** ms until minSpacingMs has passed since the last write started (0 or less: it has). */
  private spacingLeft(): number {
    return (this.options.minSpacingMs ?? 0) - (performance.now() - this.lastStartAt);
  }

  private take(): Array<Waiting<In, Out>> {
    const { maxWeight, weightOf = () => 1, maxBytes = Infinity, sizeOf = () => 0 } = this.options;
    let weight = 0;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const item = this.queue[n]!.item;
      const next = weightOf(item);
      const size = sizeOf(item);
      if (n > 0 && (weight + next > maxWeight || bytes + size > maxBytes)) break;
      weight += next;
      bytes += size;
      n += 1;
    }
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    return batch;
  }
}
