/**
 * How much of one StreamEvents call is read and not yet acknowledged. Reading pauses when either
 * bound is reached, and gRPC flow control then pushes back on the client; it resumes when an
 * acknowledgement brings both below their bounds again. Counting bytes as well as events keeps
 * a stream of large events to what one PublishEvents call may carry, while small events can
 * fill commits of hundreds.
 */
export class StreamWindow {
  private events = 0;
  private bytes = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  /** Counts a message read; true when reading must pause. */
  add(bytes: number): boolean {
    this.events += 1;
    this.bytes += bytes;
    return this.full;
  }

  /** Counts a message acknowledged; true when reading may go on. */
  remove(bytes: number): boolean {
    this.events -= 1;
    this.bytes -= bytes;
    return !this.full;
  }

  private get full(): boolean {
    return this.events >= this.maxEvents || this.bytes >= this.maxBytes;
  }
}
