/**
 * A real, throw-away redis-server for e2e tests: 127.0.0.1, a free port, no persistence, its own temp dir.
 *
 *   const redis = await startRedis();
 *   ... redis.url ...
 *   await redis.pause();   // SIGSTOP: connections stay open, commands time out
 *   await redis.resume();  // SIGCONT
 *   await redis.stop();    // connections refused (the port stays reserved for restart())
 *   await redis.restart(); // a fresh, empty server on the same port
 *   await redis.close();   // in afterAll: stop and remove the temp dir
 *
 * Servers still running when the test process exits are killed.
 *
 * `startTcpProxy(redis.port)` puts a cuttable link in front of it: `cut()` drops every connection and refuses
 * new ones while the server keeps its data (an outage as a replica sees it); `hold()` swallows what clients send
 * (commands in flight that never get an answer); `restore()` lets traffic through.
 *
 * `startFailingServer()` is no Redis at all: it answers every command with an error, so each connection a client
 * makes ends in an 'error' event.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

export interface TestRedis {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** True while a server process is running (paused or not). */
  readonly running: boolean;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): Promise<void>;
  /** Terminates the server (data is lost; nothing is persisted). */
  stop(): Promise<void>;
  /** Starts a new server on the same port (stopping the current one first). */
  restart(): Promise<void>;
  /** Sends a command over a raw connection and returns the reply line (e.g. `+PONG`). */
  command(...args: string[]): Promise<string>;
  /** Stops the server and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export async function startRedis(opts: { port?: number } = {}): Promise<TestRedis> {
  if (!existsSync(REDIS_SERVER_BIN)) throw new Error(`redis-server not found at ${REDIS_SERVER_BIN} (set REDIS_SERVER_BIN)`);
  installExitHook();
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'hubgate-redis-'));
  let child: ChildProcess | undefined;
  let paused = false;
  let closed = false;

  const launch = async () => {
    const args = ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    const proc = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    proc.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    child = proc;
    paused = false;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited at start: ${output.trim()}`);
      try {
        if ((await rawCommand(host, port, ['PING'], 500)) === '+PONG') return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not answer PING within 10 s: ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    if (paused) proc.kill('SIGCONT');
    paused = false;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  await launch();

  return {
    url: `redis://${host}:${port}`,
    host,
    port,
    get running() {
      return child !== undefined;
    },
    async pause() {
      if (!child) throw new Error('redis-server is not running');
      child.kill('SIGSTOP');
      paused = true;
    },
    async resume() {
      if (!child) throw new Error('redis-server is not running');
      child.kill('SIGCONT');
      paused = false;
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
    command: (...args: string[]) => rawCommand(host, port, args, 2000),
    async close() {
      if (closed) return;
      closed = true;
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** One RESP command over a fresh connection; resolves to the first reply line. */
function rawCommand(host: string, port: number, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('redis command timed out'));
    }, timeoutMs);
    let buf = '';
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      let line = buf.slice(0, nl);
      if (line.startsWith('$') && line !== '$-1') {
        const rest = buf.slice(nl + 2);
        const end = rest.indexOf('\r\n');
        if (end < 0) return;
        line = rest.slice(0, end);
      }
      clearTimeout(timer);
      sock.end();
      resolve(line);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export interface TcpProxy {
  readonly port: number;
  /** `redis://127.0.0.1:<proxy port>`. */
  readonly url: string;
  /** Destroys open connections and closes new ones at once, until restore(). */
  cut(): void;
  /** Keeps connections open but drops what clients send (a command in flight, never answered), until restore(). */
  hold(): void;
  /** Lets traffic through again (after cut() or hold()). */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to 127.0.0.1:targetPort whose link can be cut and restored. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let isCut = false;
  let holding = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    track(upstream);
    client.on('data', (chunk: Buffer) => {
      if (!holding) upstream.write(chunk);
    });
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut() {
      isCut = true;
      for (const s of sockets) s.destroy();
    },
    hold() {
      holding = true;
    },
    restore() {
      isCut = false;
      holding = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface FailingServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Connections accepted so far. */
  opened(): number;
  /** Resolves once the first connection has ended (the client has had its error). */
  readonly firstClosed: Promise<void>;
  close(): Promise<void>;
}

/**
 * A server that answers every command with an error: a Redis client's ready check fails on each connection, so the
 * client emits an 'error' and drops the connection, then reconnects. Counts the connections it accepts.
 * (A refused port would not do for tests of the 'error' listeners: without a listener ioredis prints an error only
 * when it is `instanceof Error` of its own realm, and under jest a socket's ECONNREFUSED comes from Node's.)
 */
export async function startFailingServer(): Promise<FailingServer> {
  let opened = 0;
  let firstClose!: () => void;
  const firstClosed = new Promise<void>((r) => (firstClose = r));
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    opened += 1;
    sockets.add(s);
    // one error per command the chunk holds (a command is an array: `*<count>` at the start of a line)
    s.on('data', (d: Buffer) => s.write('-ERR not a redis server\r\n'.repeat((d.toString().match(/(?:^|\r\n)\*\d+\r\n/g) ?? []).length)));
    s.on('error', () => s.destroy());
    s.once('close', () => {
      sockets.delete(s);
      firstClose();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    opened: () => opened,
    firstClosed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
