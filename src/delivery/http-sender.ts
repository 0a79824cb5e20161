/**
 * POSTs one signed delivery with undici and turns whatever happens into an AttemptResult.
 * Redirects are never followed (a plain dispatch follows none) and count as failures; the
 * response body is kept only up to RESPONSE_BODY_LIMIT, and a longer one is cut off there along
 * with its connection, so an endless body costs nothing; one deadline covers connect, headers and
 * body.
 *
 * It drives undici's dispatcher with a handler of its own rather than through request(): that
 * API wraps every response in a Readable stream and the body in an async iterator, and in a
 * drain those cost more of the sidecar's CPU than the HTTP exchange itself (BENCHMARKS.md, eighth
 * session).
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { Agent, type Dispatcher } from 'undici';
import { isAllowedAddress, type AllowedRanges } from '../security/destination';
import { RESPONSE_BODY_LIMIT, type AttemptResult } from './attempt';
import { classifyError } from './classify-error';
import { guardedLookup, refusal, type Resolver } from './guarded-lookup';

export interface SenderOptions {
  readonly requestTimeoutMs: number;
  readonly allowedCidrs: AllowedRanges;
  /** Tests inject a resolver; production uses the system's. */
  readonly resolver?: Resolver;
}

/** Response headers worth keeping with an attempt. */
const KEPT_HEADERS = new Set(['content-type', 'retry-after', 'location']);
/** Parsed destinations kept; webhook URLs are few, so this bound is only against a flood of them. */
const MAX_TARGETS = 10_000;

interface Target {
  readonly origin: string;
  readonly path: string;
}

export class HttpSender {
  private readonly agent: Agent;
  private readonly targets = new Map<string, Target>();

  constructor(private readonly options: SenderOptions) {
    this.agent = new Agent({
      connect: { lookup: guardedLookup(options.allowedCidrs, options.resolver) },
      connectTimeout: options.requestTimeoutMs,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** `cancel` cuts the request (shutdown); the whole attempt has its own deadline regardless. */
  send(url: string, headers: Record<string, string>, body: string, cancel?: AbortSignal): Promise<AttemptResult> {
    return new Promise((resolve) => {
      const exchange = new Exchange(resolve, this.options.requestTimeoutMs, cancel);
      if (exchange.settled) return; // cancelled before it started
      try {
        const { origin, path } = this.targetOf(url);
        this.agent.dispatch({ origin, path, method: 'POST', headers, body }, exchange);
      } catch (err) {
        exchange.onError(err as Error);
      }
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The URL's origin and path, once checked: no lookup runs for an IP literal, so the guard checks it here. */
  private targetOf(url: string): Target {
    const known = this.targets.get(url);
    if (known) return known;
    const parsed = new URL(url);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0 && !isAllowedAddress(host, this.options.allowedCidrs)) throw refusal(host, host);
    const target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (this.targets.size >= MAX_TARGETS) this.targets.clear();
    this.targets.set(url, target);
    return target;
  }
}

/**
 * One request's life as undici's dispatcher reports it, settled once: by the response's end, an
 * error, the deadline, or `cancel`. The deadline and `cancel` settle it at once and then cut the
 * request, wherever it is (queued, connecting, or reading).
 */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;
  private abortRequest: ((reason: Error) => void) | undefined;
  private cutReason: Error | undefined;
  settled = false;
  private statusCode = 0;
  private responseHeaders: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly resolve: (result: AttemptResult) => void,
    timeoutMs: number,
    private readonly cancel: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => this.cut(new DOMException(`the request took over ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    if (cancel?.aborted) this.cut(cancel.reason as Error);
    else cancel?.addEventListener('abort', this.onCancel, { once: true });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.cutReason) abort(this.cutReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the real status follows
    this.statusCode = statusCode;
    this.responseHeaders = keptHeaders(rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= RESPONSE_BODY_LIMIT) {
      this.finishWithResponse();
      this.abortRequest?.(new Error('response body limit reached')); // the rest is not wanted; dropping it also drops the connection
    }
    return true;
  }

  onComplete(): void {
    this.finishWithResponse();
  }

  onError(err: Error): void {
    if (this.settled) return;
    const { errorClass, message } = classifyError(err);
    this.finish({ statusCode: null, responseBody: null, responseHeaders: {}, errorClass, errorMessage: message.slice(0, 1024) });
  }

  private readonly onCancel = (): void => this.cut(this.cancel!.reason as Error);

  /** The deadline or a cancel: the attempt ends now, and the request is cut wherever it is. */
  private cut(reason: Error): void {
    if (this.settled) return;
    this.onError(reason);
    this.cutReason = reason;
    this.abortRequest?.(reason);
  }

  private finishWithResponse(): void {
    if (this.settled) return;
    const status = this.statusCode;
    const responseBody = utf8Within(Buffer.concat(this.chunks, this.size).subarray(0, RESPONSE_BODY_LIMIT), RESPONSE_BODY_LIMIT);
    if (status >= 200 && status < 300) {
      this.finish({ statusCode: status, responseBody, responseHeaders: this.responseHeaders, errorClass: null, errorMessage: null });
      return;
    }
    const redirect = status >= 300 && status < 400;
    this.finish({
      statusCode: status,
      responseBody,
      responseHeaders: this.responseHeaders,
      errorClass: redirect ? 'redirect' : 'http_status',
      errorMessage: redirect ? `redirect (${status}) not followed` : `HTTP ${status}`,
    });
  }

  private finish(rest: Omit<AttemptResult, 'startedAt' | 'durationMs'>): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.cancel?.removeEventListener('abort', this.onCancel);
    this.resolve({ startedAt: this.startedAt, durationMs: Date.now() - this.startedAt, ...rest });
  }
}

/**
 * The bytes as text of at most `limit` UTF-8 bytes: a character cut at the end is dropped, not
 * turned into a 3-byte replacement character, and so are any replacements that overflow.
 */
function utf8Within(bytes: Buffer, limit: number): string {
  let text = new StringDecoder('utf8').write(bytes);
  while (Buffer.byteLength(text, 'utf8') > limit) text = text.slice(0, -1);
  return text;
}

/** The kept headers from undici's raw name/value list; a repeated one is joined with ", ". */
function keptHeaders(raw: Buffer[]): Record<string, string> {
  const kept: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (!KEPT_HEADERS.has(name)) continue;
    const value = raw[i + 1]!.toString('latin1');
    kept[name] = kept[name] === undefined ? value : `${kept[name]}, ${value}`;
  }
  for (const name of Object.keys(kept)) kept[name] = kept[name]!.slice(0, 512);
  return kept;
}
