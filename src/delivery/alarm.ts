/** The worker loop's one wait: a sleep that a wake-up cuts short. */
export class Alarm {
  private ring: (() => void) | undefined;

  /** Resolves after `ms`, or at the next wake(), whichever comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake(), ms);
      this.ring = () => {
        this.ring = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the sleep under way; nothing when there is none. */
  wake(): void {
    this.ring?.();
  }
}
