/**
 * What a log line may contain: fields whose NAME looks like a secret are replaced by "[redacted]" whatever their
 * value, registered secret VALUES are masked wherever they appear (message, nested fields, error messages), and
 * Basic/Bearer credentials quoted in text lose their token. Each test loads a fresh logger module, so the registered
 * secrets of one test never mask anything in another.
 */
type LoggerModule = typeof import('../../../src/observability/logger');
type ContextModule = typeof import('../../../src/observability/context');

/** A fresh logger module, and the context module it reads the request id from. */
function freshLogger(): LoggerModule & { runWithContext: ContextModule['runWithContext'] } {
  let mod: LoggerModule | undefined;
  let ctx: ContextModule | undefined;
  jest.isolateModules(() => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    mod = require('../../../src/observability/logger') as LoggerModule;
    ctx = require('../../../src/observability/context') as ContextModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  return { ...mod!, runWithContext: ctx!.runWithContext };
}

function capture(m: LoggerModule, level?: Parameters<LoggerModule['createLogger']>[0]) {
  const lines: Record<string, unknown>[] = [];
  const log = m.createLogger(level, (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  return { log, lines };
}

describe('log redaction by field name', () => {
  const secretNames = [
    'pass',
    'password',
    'adminPassword',
    'secret',
    'credentialSecret',
    'token',
    'access_token',
    'authorization',
    'Authorization',
    'cookie',
    'Set-Cookie',
    'credential',
    'credentials',
    'api-key',
    'api_key',
    'apikey',
    'X-API-KEY',
  ];

  it.each(secretNames)('a top-level field named %p is replaced by "[redacted]", whatever its value', (name) => {
    const m = freshLogger();
    const { log, lines } = capture(m);
    log.info('login', { [name]: 'plain-value-123', user: 'alice' });
    expect(lines).toHaveLength(1);
    expect(lines[0][name]).toBe('[redacted]');
    expect(lines[0].user).toBe('alice');
  });

  it('nested secret-named fields are redacted at every depth, in arrays too, non-secret fields kept as they are', () => {
    const m = freshLogger();
    const { log, lines } = capture(m);
    log.warn('harbor call', {
      request: { url: '/api/v2.0/users', headers: { Authorization: 'Basic YWRtaW46cHc=', accept: 'json' } },
      robots: [{ name: 'robot$a', secret: 's3cr3t-value' }, { name: 'robot$b', token: { nested: 'x' } }],
      count: 3,
      ok: true,
      none: null,
    });
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'harbor call',
      request: { url: '/api/v2.0/users', headers: { Authorization: '[redacted]', accept: 'json' } },
      robots: [{ name: 'robot$a', secret: '[redacted]' }, { name: 'robot$b', token: '[redacted]' }],
      count: 3,
      ok: true,
      none: null,
    });
  });

  it('redact() masks secret-named keys and registered values, leaves numbers, booleans and null alone', () => {
    const m = freshLogger();
    m.registerSecret('Registered-Value-42');
    expect(m.redact({ password: 'x', user: 'bob', note: 'has Registered-Value-42 inside' })).toEqual({
      password: '[redacted]',
      user: 'bob',
      note: 'has [redacted] inside',
    });
    expect(m.redact(['a', 'Registered-Value-42', 7])).toEqual(['a', '[redacted]', 7]);
    expect(m.redact(42)).toBe(42);
    expect(m.redact(false)).toBe(false);
    expect(m.redact(null)).toBeNull();
    expect(m.redact(undefined)).toBeUndefined();
  });

  it('an Error is logged as its name and redacted message only (no stack, no cause)', () => {
    const m = freshLogger();
    m.registerSecret('Robot-Password-xyz');
    const e = new TypeError('login failed for robot with Robot-Password-xyz');
    expect(m.redact(e)).toEqual({ name: 'TypeError', message: 'login failed for robot with [redacted]' });
    const { log, lines } = capture(m);
    log.error('failed', { error: e });
    expect(lines[0].error).toEqual({ name: 'TypeError', message: 'login failed for robot with [redacted]' });
  });

  it('objects nested deeper than 6 levels become "[deep]"', () => {
    const m = freshLogger();
    const deep = { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } };
    expect(m.redact(deep)).toEqual({ a: { b: { c: { d: { e: { f: { g: '[deep]' } } } } } } });
    expect(m.redact(deep, 6)).toEqual({ a: '[deep]' });
    expect(m.redact('x', 7)).toBe('[deep]');
    // arrays count as a level too
    const nest = (n: number): unknown => (n === 0 ? 'leaf' : [nest(n - 1)]);
    expect(m.redact(nest(6))).toEqual(nest(6));
    expect(JSON.stringify(m.redact(nest(7)))).toBe('[[[[[[["[deep]"]]]]]]]');
    expect(JSON.stringify(m.redact(nest(12)))).toBe('[[[[[[["[deep]"]]]]]]]');
    // a log line's fields start at depth 1
    const { log, lines } = capture(m);
    log.info('deep', { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } });
    expect(lines[0].a).toEqual({ b: { c: { d: { e: { f: { g: '[deep]' } } } } } });
  });
});

describe('log redaction of registered secret values', () => {
  it('masks every occurrence of a registered secret in the message and in field values', () => {
    const m = freshLogger();
    m.registerSecret('Admin-Secret-777');
    const { log, lines } = capture(m);
    log.info('tried Admin-Secret-777 then Admin-Secret-777 again', { detail: ['Admin-Secret-777'], note: 'pw=Admin-Secret-777;' });
    expect(lines[0].msg).toBe('tried [redacted] then [redacted] again');
    expect(lines[0].detail).toEqual(['[redacted]']);
    expect(lines[0].note).toBe('pw=[redacted];');
  });

  it('values shorter than 6 characters, empty or undefined are not registered (they would mask ordinary words)', () => {
    const m = freshLogger();
    m.registerSecret(undefined);
    m.registerSecret('');
    m.registerSecret('admin');
    expect(m.registeredSecretCount()).toBe(0);
    expect(m.redactText('admin logged in')).toBe('admin logged in');
    m.registerSecret('admin1');
    expect(m.registeredSecretCount()).toBe(1);
    expect(m.redactText('admin1 logged in')).toBe('[redacted] logged in');
  });

  it('a pinned secret is never evicted by per-project ones, and registering it again as recent adds nothing', () => {
    const m = freshLogger();
    m.registerSecret('Pinned-Secret-01');
    m.registerSecret('Pinned-Secret-01', { pinned: false });
    expect(m.registeredSecretCount()).toBe(1);
    for (let i = 0; i < m.MAX_RECENT_SECRETS + 10; i++) m.registerSecret(`recent-secret-${String(i).padStart(3, '0')}`, { pinned: false });
    expect(m.registeredSecretCount()).toBe(1 + m.MAX_RECENT_SECRETS);
    expect(m.redactText('Pinned-Secret-01')).toBe('[redacted]');
  });

  it('the recent set keeps exactly the newest 256: the oldest is dropped first, a re-registered one moves to the end', () => {
    const m = freshLogger();
    expect(m.MAX_RECENT_SECRETS).toBe(256);
    for (let i = 0; i < 256; i++) m.registerSecret(`recent-secret-${String(i).padStart(3, '0')}`, { pinned: false });
    expect(m.registeredSecretCount()).toBe(256);
    // re-registering #0 makes #1 the oldest
    m.registerSecret('recent-secret-000', { pinned: false });
    expect(m.registeredSecretCount()).toBe(256);
    m.registerSecret('recent-secret-256', { pinned: false });
    expect(m.registeredSecretCount()).toBe(256);
    expect(m.redactText('v=recent-secret-000.')).toBe('v=[redacted].');
    expect(m.redactText('v=recent-secret-001.')).toBe('v=recent-secret-001.');
    expect(m.redactText('v=recent-secret-002.')).toBe('v=[redacted].');
    expect(m.redactText('v=recent-secret-256.')).toBe('v=[redacted].');
  });

  it('pinned secrets default to pinned: true (kept however many recent ones follow)', () => {
    const m = freshLogger();
    m.registerSecret('Default-Pinned-1', {});
    for (let i = 0; i < 300; i++) m.registerSecret(`recent-secret-${String(i).padStart(3, '0')}`, { pinned: false });
    expect(m.redactText('Default-Pinned-1')).toBe('[redacted]');
    m.registerSecret('Explicit-Pinned-2', { pinned: true });
    for (let i = 300; i < 600; i++) m.registerSecret(`recent-secret-${String(i).padStart(3, '0')}`, { pinned: false });
    expect(m.redactText('Explicit-Pinned-2')).toBe('[redacted]');
  });
});

describe('log redaction of Basic/Bearer credentials in text', () => {
  it('keeps the scheme and drops the credential (8+ token characters)', () => {
    const m = freshLogger();
    expect(m.redactText('Authorization: Bearer eyJhbGciOi.J9x_y-z~+/=')).toBe('Authorization: Bearer [redacted]');
    expect(m.redactText('sent Basic YWRtaW46cHc= and Bearer abcdefgh12')).toBe('sent Basic [redacted] and Bearer [redacted]');
    expect(m.redactText('Basic   abcdefgh')).toBe('Basic [redacted]');
  });

  it('leaves short tokens, other words and lower-case schemes alone', () => {
    const m = freshLogger();
    expect(m.redactText('Basic abc')).toBe('Basic abc');
    expect(m.redactText('Basic auth is enabled')).toBe('Basic auth is enabled');
    expect(m.redactText('bearer abcdefghijk')).toBe('bearer abcdefghijk');
    expect(m.redactText('no credentials here')).toBe('no credentials here');
    expect(m.redactText('xBearer abcdefghijk')).toBe('xBearer abcdefghijk');
  });

  it('masks a Bearer credential even when the text has no "Basic"', () => {
    const m = freshLogger();
    expect(m.redactText('upstream said Bearer abcdefghijkl')).toBe('upstream said Bearer [redacted]');
    expect(m.redactText('upstream said Basic abcdefghijkl')).toBe('upstream said Basic [redacted]');
  });
});

describe('log lines', () => {
  it('one JSON object per line with time, level, msg and the request id of the current context', () => {
    const m = freshLogger();
    const { log, lines } = capture(m, 'debug');
    const before = Date.now();
    m.runWithContext({ requestId: 'req-123' }, () => log.debug('hello', { a: 1 }));
    log.info('outside');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ time: expect.any(String), level: 'debug', msg: 'hello', request_id: 'req-123', a: 1 });
    expect(Date.parse(lines[0].time as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(lines[0].time).toBe(new Date(Date.parse(lines[0].time as string)).toISOString());
    expect(lines[1]).toEqual({ time: expect.any(String), level: 'info', msg: 'outside' });
    expect('request_id' in lines[1]).toBe(false);
  });

  it('drops lines below the configured level and keeps those at or above it', () => {
    const m = freshLogger();
    const { log, lines } = capture(m, 'warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
    const all = capture(m, 'debug');
    all.log.debug('d');
    all.log.info('i');
    all.log.warn('w');
    all.log.error('e');
    expect(all.lines.map((l) => l.level)).toEqual(['debug', 'info', 'warn', 'error']);
    const errOnly = capture(m, 'error');
    errOnly.log.warn('w');
    errOnly.log.error('e');
    expect(errOnly.lines.map((l) => l.level)).toEqual(['error']);
  });

  it('the default level is info and the default sink is stdout: lines in order, one write per batch', () => {
    jest.useFakeTimers();
    const m = freshLogger();
    const fs = require('node:fs') as typeof import('node:fs'); // eslint-disable-line @typescript-eslint/no-require-imports
    const write = jest.spyOn(fs, 'writeSync').mockImplementation(() => 0);
    try {
      const log = m.createLogger();
      log.debug('not shown');
      log.info('shown', { token: 'abc' });
      log.info('second');
      expect(write).not.toHaveBeenCalled();
      // The batch waits for its timer (50 ms from its first line) ...
      jest.advanceTimersByTime(49);
      expect(write).not.toHaveBeenCalled();
      // ... and then goes out in one write.
      jest.advanceTimersByTime(1);
      expect(write).toHaveBeenCalledTimes(1);
      expect(write.mock.calls[0][0]).toBe(1);
      const lines = String(write.mock.calls[0][1]).split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[2]).toBe('');
      expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', msg: 'shown', token: '[redacted]' });
      expect(JSON.parse(lines[1])).toMatchObject({ level: 'info', msg: 'second' });
    } finally {
      write.mockRestore();
      jest.useRealTimers();
    }
  });

  describe('the buffered writer (fake clock; fs.writeSync recorded)', () => {
    const fs = require('node:fs') as typeof import('node:fs'); // eslint-disable-line @typescript-eslint/no-require-imports
    let write: jest.SpyInstance;
    let written: string[];
    const writers: (() => void)[] = [];
    beforeEach(() => {
      jest.useFakeTimers();
      written = [];
      write = jest.spyOn(fs, 'writeSync').mockImplementation((fd: number, text: unknown) => {
        expect(fd).toBe(9);
        written.push(String(text));
        return 0;
      });
    });
    afterEach(() => {
      write.mockRestore();
      jest.useRealTimers();
      for (const off of writers.splice(0)) off();
    });
    /** A writer to fd 9 (never really written: writeSync is replaced), size bound 20 bytes, delay 40 ms. */
    const writer = () => {
      const w = freshLogger().bufferedWriter(9, 20, 40);
      writers.push(() => process.off('exit', w.flush));
      return w;
    };

    it('writes at once when exactly the size bound is pending, in one write', () => {
      const w = writer();
      w('012345678'); // 10 bytes with its newline
      expect(written).toEqual([]);
      w('abcdefghi'); // 20: the bound
      expect(written).toEqual(['012345678\nabcdefghi\n']);
    });

    it('otherwise when its oldest line is delayMs old, with one timer per batch; a size flush drops the batch timer', () => {
      const w = writer();
      w('first');
      w('second');
      w('third');
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(30);
      w('0123456789'); // 6 + 7 + 6 + 11 = 30 bytes: written now
      expect(written).toEqual(['first\nsecond\nthird\n0123456789\n']);
      expect(jest.getTimerCount()).toBe(0);
      w('tail'); // a new batch: its own 40 ms, not what was left of the old one's
      jest.advanceTimersByTime(39);
      expect(written).toHaveLength(1);
      jest.advanceTimersByTime(1);
      expect(written).toEqual(['first\nsecond\nthird\n0123456789\n', 'tail\n']);
    });

    it('a flush with nothing pending writes nothing (no empty system call)', () => {
      const w = writer();
      w.flush();
      w('x');
      w.flush();
      w.flush();
      expect(written).toEqual(['x\n']);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('its batch timer does not hold the process open, and it flushes on process exit', () => {
      jest.useRealTimers(); // getActiveResourcesInfo counts real timers
      const w = writer();
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const before = timers();
      w('pending');
      expect(timers()).toBe(before);
      expect(process.listeners('exit')).toContain(w.flush);
      w.flush();
      expect(written).toEqual(['pending\n']);
    });

    it('a stdout that is gone (EPIPE) loses the batch quietly', () => {
      const w = writer();
      write.mockImplementation(() => {
        throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
      });
      w('lost');
      expect(() => w.flush()).not.toThrow();
      write.mockImplementation((_fd: number, text: unknown) => (written.push(String(text)), 0));
      w('next');
      w.flush();
      expect(written).toEqual(['next\n']);
    });
  });

  it('lines logged right before process.exit() are written (flushed on exit)', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process'); // eslint-disable-line @typescript-eslint/no-require-imports
    const script = `require('ts-node').register({ transpileOnly: true });
const { createLogger } = require(${JSON.stringify(require.resolve('../../../src/observability/logger'))});
const log = createLogger('info');
log.info('first');
log.error('last words', { code: 7 });
process.exit(3);`;
    let out = '';
    try {
      execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: process.cwd() });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      expect(err.status).toBe(3);
      out = err.stdout;
    }
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; code?: number });
    expect(lines.map((l) => l.msg)).toStrictEqual(['first', 'last words']);
    expect(lines[1].code).toBe(7);
  });

  it('only own fields are logged (nothing inherited from a prototype)', () => {
    const m = freshLogger();
    const { log, lines } = capture(m);
    const fields = Object.create({ inherited: 'from-proto' }) as Record<string, unknown>;
    fields.own = 'mine';
    log.info('x', fields);
    expect(lines[0]).toEqual({ time: expect.any(String), level: 'info', msg: 'x', own: 'mine' });
  });

  it('a text exactly as long as the shortest secret is still scanned (pinned and recent sets), a shorter one cannot hold it', () => {
    const m = freshLogger();
    m.registerSecret('pinned-secret-1');
    m.registerSecret('recent-secret-22', { pinned: false });
    expect(m.redactText('pinned-secret-1')).toBe('[redacted]');
    expect(m.redactText('recent-secret-22')).toBe('[redacted]');
    expect(m.redactText('x recent-secret-22 y')).toBe('x [redacted] y');
    // A shorter recent secret registered later lowers the bound: still masked.
    m.registerSecret('short6', { pinned: false });
    expect(m.redactText('short6')).toBe('[redacted]');
    expect(m.redactText('short')).toBe('short');
  });

  it('the silent logger writes nothing', () => {
    const m = freshLogger();
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      m.silentLogger.debug('a');
      m.silentLogger.info('a');
      m.silentLogger.warn('a');
      m.silentLogger.error('a');
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });
});
