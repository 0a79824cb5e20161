/**
 * Loaded with `node --require` into a sidecar child (ProcessSidecar's `preload`): shifts that
 * process's wall clock (Date.now() and new Date()) by WEBHOOKS_TEST_CLOCK_SKEW_MS, as a host whose
 * clock runs ahead or behind. Monotonic timers (setTimeout, performance.now) are left alone.
 */
const skewMs = Number(process.env.WEBHOOKS_TEST_CLOCK_SKEW_MS ?? 0);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);

class SkewedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(realNow() + skewMs);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return realNow() + skewMs;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
