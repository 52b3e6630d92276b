import net from 'node:net';

/**
 * Bodiless `HEAD` exchanges with Harbor on kept-alive sockets of their own, without node:http's client.
 *
 * Why our own code here (and only here): a `HEAD` has no request body and, by definition, no response body
 * (RFC 9110 §9.3.2, RFC 9112 §6.3), so the exchange is one write of a request head and the read of a response
 * head. node:http's client (ClientRequest, the agent's queue, an IncomingMessage per answer) costs more CPU than
 * that exchange itself: in the same run of `npm run bench -- passthrough` this path takes ~55 % less CPU per
 * manifest HEAD than node:http's client, and undici 6 (also measured) took twice as much as node:http. A manifest
 * HEAD is what every `docker pull`/containerd pull starts with, so it is the front's hottest request. Everything
 * with a body (GET, PUT, PATCH, POST, DELETE, a HEAD that announces a body) stays on node:http's client.
 *
 * The parser is strict: one status line `HTTP/1.x NNN reason`, header lines `name: value` with token names, no
 * obsolete line folding, no bare CR or LF, NUL or other control characters in values, the whole head within
 * `maxHeaderBytes`, a numeric Content-Length (repeated only with the same value) and never together with
 * Transfer-Encoding (node:http refuses the same answers); 1xx interim answers are skipped. Anything else is a protocol error (the caller answers 502)
 * and the socket is closed. A socket is reused only after a clean answer that did not say `Connection: close`
 * (and was not HTTP/1.0 without keep-alive) and left no stray bytes behind.
 *
 * A kept-alive socket can be closed by Harbor (or its nginx) just as a request goes out on it; such an exchange
 * — failed before any byte of an answer came back, on a reused socket — is sent once more on a fresh connection
 * (a HEAD is safe to repeat; node:http's agent reports "socket hang up" instead).
 */
export interface HeadPoolOptions {
  host: string;
  port: number;
  /** The `Host` header sent to Harbor. */
  hostHeader: string;
  /** Sockets open at once (idle + busy); past it, `head` returns undefined and the caller uses node:http. */
  maxSockets: number;
  /** Idle kept-alive sockets are closed after this long. */
  idleSocketMs: number;
  /** Idle sockets kept at most (more are closed when they come back). */
  maxFreeSockets?: number;
  /** Bound on the response head (default 64 KiB, above node:http's 16 KiB: Harbor's heads are ~1 KiB). */
  maxHeaderBytes?: number;
}

export interface HeadAnswer {
  status: number;
  statusMessage: string;
  /** Header names and values as Harbor sent them, alternating (like `IncomingMessage.rawHeaders`). */
  rawHeaders: string[];
}

/** `timedOut`: no byte moved on the socket for the exchange's idle timeout (the caller answers 504). */
export type HeadDone = (err: (Error & { code?: string; timedOut?: boolean }) | undefined, answer?: HeadAnswer) => void;

export interface HeadExchange {
  /** The client went away: drop the exchange (its socket is closed, `done` is not called). */
  abort(): void;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\r\n]*))?$/;

function protocolError(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: 'HPE_INVALID_RESPONSE' });
}

interface Parsed {
  answer: HeadAnswer;
  keepAlive: boolean;
}

/** Parses one response head (without its final CRLF CRLF). */
export function parseResponseHead(head: string): Parsed {
  const lines = head.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]);
  if (!m) throw protocolError('malformed status line');
  const minor = m[1];
  const rawHeaders: string[] = [];
  // Stryker disable next-line StringLiteral: equivalent, the first token of the list is never 'close' or 'keep-alive' whatever it starts as
  let connection = '';
  let contentLength: string | undefined;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocolError('malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw protocolError('malformed header name');
    // Optional whitespace around the value (RFC 9110 §5.5), trimmed without a regular expression.
    let from = colon + 1;
    let to = line.length;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' and 'from <= to' are equivalent (from stops at the line's end, where charCodeAt is NaN); the other 7 are killed by the trim tests, applied by hand
    while (from < to && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' and 'to >= from' are equivalent (to only passes from over blanks the loop above skipped, and slice of a reversed range is ''); the other 7 are killed by the trim tests, applied by hand
    while (to > from && (line.charCodeAt(to - 1) === 32 || line.charCodeAt(to - 1) === 9)) to--;
    const value = line.slice(from, to);
    if (BAD_VALUE.test(value)) throw protocolError('invalid character in a header value');
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    if (lower === 'connection') connection += `,${value.toLowerCase()}`;
    else if (lower === 'content-length') {
      // As node:http's parser: a length that is not a number, or two different ones, is an error.
      if (!/^\d+$/.test(value) || (contentLength !== undefined && contentLength !== value)) throw protocolError('invalid Content-Length');
      contentLength = value;
    } else if (lower === 'transfer-encoding') chunked = true;
  }
  // Both framings at once is how responses are smuggled (RFC 9112 §6.3); node:http refuses it, so do we.
  if (chunked && contentLength !== undefined) throw protocolError('both Transfer-Encoding and Content-Length');
  const tokens = connection.split(',').map((t) => t.trim());
  const keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
  return { answer: { status: Number(m[2]), statusMessage: m[3] ?? '', rawHeaders }, keepAlive };
}

/** One exchange on a socket: what the socket's listeners hand their events to. */
interface Pending {
  onData(chunk: Buffer): void;
  onEnd(err: Error & { code?: string; timedOut?: boolean }): void;
}

const PENDING = Symbol('head-pool-pending');
const IDLE_SINCE = Symbol('head-pool-idle-since');
type PooledSocket = net.Socket & { [PENDING]?: Pending; [IDLE_SINCE]?: number };

export class HeadPool {
  private readonly idle: PooledSocket[] = [];
  private open = 0;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly maxFree: number;
  private readonly maxHeaderBytes: number;

  constructor(private readonly opts: HeadPoolOptions) {
    this.maxFree = opts.maxFreeSockets ?? 256;
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
  }

  /** Sockets open (idle + busy) and idle now. */
  stats(): { open: number; idle: number } {
    return { open: this.open, idle: this.idle.length };
  }

  /**
   * Sends `HEAD path` with the given header lines (each `name: value\r\n`, already checked; no Host/Connection).
   * Undefined when the pool is full or closed (use node:http). `timeoutMs`: no byte either way for this long cuts
   * the exchange.
   */
  head(path: string, headerLines: string, timeoutMs: number, done: HeadDone): HeadExchange | undefined {
    if (this.closed || (this.idle.length === 0 && this.open >= this.opts.maxSockets)) return undefined;
    const request = `HEAD ${path} HTTP/1.1\r\nHost: ${this.opts.hostHeader}\r\n${headerLines}Connection: keep-alive\r\n\r\n`;
    let socket: PooledSocket;
    let finished = false;
    let retried = false;

    const start = (fresh: boolean): void => {
      const reused = !fresh && this.idle.length > 0;
      socket = reused ? (this.idle.pop() as PooledSocket) : this.connect();
      let buffered = '';
      let received = false;
      const s = socket;
      const finish = (err: Parameters<HeadDone>[0], answer?: HeadAnswer, keep = false): void => {
        // Stryker disable next-line ConditionalExpression: 'false' is equivalent (finish is only reached through s[PENDING], cleared whenever finished is set); 'true' (every answer dropped) hangs the pool tests (a Stryker timeout), applied by hand
        if (finished) return;
        finished = true;
        s[PENDING] = undefined;
        if (keep) this.release(s);
        else s.destroy();
        done(err, answer);
      };
      s[PENDING] = {
        onData: (chunk) => {
          received = true;
          buffered += chunk.toString('latin1');
          for (;;) {
            const end = buffered.indexOf('\r\n\r\n');
            if (end < 0) {
              if (buffered.length > this.maxHeaderBytes) finish(Object.assign(protocolError('response head too large'), { code: 'HPE_HEADER_OVERFLOW' }));
              return;
            }
            if (end > this.maxHeaderBytes) return finish(Object.assign(protocolError('response head too large'), { code: 'HPE_HEADER_OVERFLOW' }));
            let parsed: Parsed;
            try {
              parsed = parseResponseHead(buffered.slice(0, end));
            } catch (e) {
              return finish(e as Error);
            }
            buffered = buffered.slice(end + 4);
            const status = parsed.answer.status;
            // Interim answers (100 Continue, 103 Early Hints): the final one follows on the same socket.
            if (status < 200 && status !== 101) continue;
            if (status === 101) return finish(protocolError('unexpected protocol switch'));
            // Bytes after a HEAD answer's head belong to no request of ours: do not reuse such a socket.
            return finish(undefined, parsed.answer, parsed.keepAlive && buffered.length === 0);
          }
        },
        onEnd: (err) => {
          // Stryker disable next-line ConditionalExpression: 'false' is equivalent (onEnd is only reached through s[PENDING], cleared whenever finished is set); 'true' (no error ever reported) is killed by the error tests, applied by hand
          if (finished) return;
          // Harbor closed a kept-alive socket as the request went out: once more on a fresh connection.
          if (reused && !received && !retried && !err.timedOut) {
            // Stryker disable next-line BooleanLiteral: equivalent, the resend is on a fresh connection, which is never 'reused', so it is never resent again anyway
            retried = true;
            s[PENDING] = undefined;
            s.destroy();
            start(true);
            return;
          }
          finish(err);
        },
      };
      // The socket's own timer (refreshed by Node on every read and write) cuts a stalled exchange; set once per
      // socket, not per request.
      if (s.timeout !== timeoutMs) s.setTimeout(timeoutMs);
      s.ref();
      s.write(request, 'latin1');
    };

    start(false);
    return {
      abort: () => {
        if (finished) return;
        // Stryker disable next-line BooleanLiteral: equivalent, after abort() nothing reaches the exchange (s[PENDING] is cleared) and a second abort() only destroys a destroyed socket
        finished = true;
        socket[PENDING] = undefined;
        socket.destroy();
      },
    };
  }

  /** Closes the idle sockets; later `head` calls return undefined. Busy exchanges finish on their own. */
  close(): void {
    this.closed = true;
    // Stryker disable next-line ConditionalExpression: 'true' is equivalent (clearInterval(undefined) does nothing); 'false' is killed by 'close() stops the sweep timer', applied by hand
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const s of this.idle.splice(0)) s.destroy();
  }

  private connect(): PooledSocket {
    const s: PooledSocket = net.connect({ host: this.opts.host, port: this.opts.port });
    this.open++;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      const p = s[PENDING];
      // Bytes on an idle socket answer nothing we asked: the connection is out of step, close it.
      if (p) p.onData(chunk);
      else s.destroy();
    });
    s.on('timeout', () => {
      const p = s[PENDING];
      if (p) p.onEnd(Object.assign(new Error('upstream idle timeout'), { code: 'ETIMEDOUT', timedOut: true }));
      else s.destroy();
    });
    s.on('error', (err: Error) => s[PENDING]?.onEnd(err));
    // Stryker disable next-line StringLiteral,ArrowFunction: dropping the 'end' listener is equivalent ('close' always follows, allowHalfOpen is off, with the same error); the message and code literals are killed by the hang-up tests, applied by hand
    s.on('end', () => s[PENDING]?.onEnd(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
    s.on('close', () => {
      this.open--;
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
      s[PENDING]?.onEnd(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    });
    return s;
  }

  private release(s: PooledSocket): void {
    if (this.closed || s.destroyed || this.idle.length >= this.maxFree) {
      s.destroy();
      return;
    }
    // An idle socket does not keep the process alive (shutdown does not wait for Harbor to close it).
    s.unref();
    s[IDLE_SINCE] = Date.now();
    this.idle.push(s);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, Math.floor(this.opts.idleSocketMs / 2))).unref();
  }

  /** Closes sockets idle for longer than idleSocketMs (one timer for the pool instead of one per release). */
  private sweep(): void {
    const cutoff = Date.now() - this.opts.idleSocketMs;
    // Oldest first: the list is LIFO, so idle ages decrease along it.
    // Stryker disable next-line OptionalChaining: equivalent, shift() of a non-empty list is never undefined
    while (this.idle.length && (this.idle[0][IDLE_SINCE] ?? 0) <= cutoff) this.idle.shift()?.destroy();
    if (!this.idle.length && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
