/**
 * POSTs one signed delivery with undici and turns whatever happens into an AttemptResult.
 * Redirects are never followed (undici's request() follows none unless told to) and count as
 * failures; the response body is read only up to RESPONSE_BODY_LIMIT and the rest discarded, so
 * an endless body costs nothing; one deadline covers connect, headers and body.
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { Agent, request } from 'undici';
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
const KEPT_HEADERS = ['content-type', 'retry-after', 'location'];

export class HttpSender {
  private readonly agent: Agent;

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
  async send(url: string, headers: Record<string, string>, body: string, cancel?: AbortSignal): Promise<AttemptResult> {
    const startedAt = Date.now();
    const done = (rest: Omit<AttemptResult, 'startedAt' | 'durationMs'>): AttemptResult => ({
      startedAt,
      durationMs: Date.now() - startedAt,
      ...rest,
    });
    const limit = deadline(this.options.requestTimeoutMs, cancel);
    try {
      this.checkLiteralHost(url);
      const response = await request(url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.agent,
        signal: limit.signal,
      });
      const responseBody = await readLimited(response.body, RESPONSE_BODY_LIMIT);
      const status = response.statusCode;
      const kept = keptHeaders(response.headers);
      if (status >= 200 && status < 300) {
        return done({ statusCode: status, responseBody, responseHeaders: kept, errorClass: null, errorMessage: null });
      }
      const redirect = status >= 300 && status < 400;
      return done({
        statusCode: status,
        responseBody,
        responseHeaders: kept,
        errorClass: redirect ? 'redirect' : 'http_status',
        errorMessage: redirect ? `redirect (${status}) not followed` : `HTTP ${status}`,
      });
    } catch (err) {
      const { errorClass, message } = classifyError(err);
      return done({ statusCode: null, responseBody: null, responseHeaders: {}, errorClass, errorMessage: message.slice(0, 1024) });
    } finally {
      limit.dispose();
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** No lookup runs for an IP literal, so the guard checks it here. */
  private checkLiteralHost(url: string): void {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0 && !isAllowedAddress(host, this.options.allowedCidrs)) {
      throw refusal(host, host);
    }
  }
}

/**
 * The whole attempt's deadline, cut short by `cancel`. A plain timer and controller, not
 * AbortSignal.any([AbortSignal.timeout(), ...]): on Node 20 the combined signal holds its sources
 * weakly, the timeout signal can be garbage-collected before it fires, and a receiver that never
 * answers then holds a delivery slot for ever (seen here: every slot stuck within minutes).
 */
function deadline(timeoutMs: number, cancel: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`the request took over ${timeoutMs} ms`, 'TimeoutError')),
    timeoutMs,
  );
  const onCancel = (): void => controller.abort(cancel!.reason);
  if (cancel?.aborted) onCancel();
  else cancel?.addEventListener('abort', onCancel, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
    },
  };
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy(); // the rest is not wanted; dropping it also drops the connection
      break;
    }
  }
  return utf8Within(Buffer.concat(chunks).subarray(0, limit), limit);
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

function keptHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers[name];
    if (value !== undefined) kept[name] = (Array.isArray(value) ? value.join(', ') : value).slice(0, 512);
  }
  return kept;
}
