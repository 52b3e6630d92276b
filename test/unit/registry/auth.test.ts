import type http from 'node:http';
import { authScheme, basicHeader, clientAddress, compileTrust, jwtSubject, parseBasic, TRUST_NONE, VerifiedLogins } from '../../../src/http/registry/auth';

/** Registry login building blocks: which Authorization headers count as Basic credentials, and the login cache. */
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('parseBasic', () => {
  it('decodes user and password (the password may contain ":"), surrounding blanks allowed', () => {
    expect(parseBasic(`Basic ${b64('hg-team:pa:ss')}`)).toEqual({ username: 'hg-team', password: 'pa:ss' });
    expect(parseBasic(`  basic   ${b64('u:p')}  `)).toEqual({ username: 'u', password: 'p' });
    expect(parseBasic(basicHeader('robot$x', 'pw'))).toEqual({ username: 'robot$x', password: 'pw' });
  });

  it('refuses absent, other schemes, junk before or after, no blank after the scheme, and an empty user', () => {
    expect(parseBasic(undefined)).toBeUndefined();
    expect(parseBasic('')).toBeUndefined();
    expect(parseBasic(`Bearer ${b64('u:p')}`)).toBeUndefined();
    expect(parseBasic(`xBasic ${b64('u:p')}`)).toBeUndefined();
    expect(parseBasic(`Basic ${b64('u:p')} extra`)).toBeUndefined();
    expect(parseBasic(`Basic ${b64('u:p')}!`)).toBeUndefined();
    expect(parseBasic(`Basic${b64('u:p')}`)).toBeUndefined();
    expect(parseBasic(`Basic ${b64(':p')}`)).toBeUndefined();
    expect(parseBasic(`Basic ${b64('no-colon')}`)).toBeUndefined();
  });

  it('a one-character user is a user', () => {
    expect(parseBasic(`Basic ${b64('u:')}`)).toEqual({ username: 'u', password: '' });
  });
});

describe('authScheme', () => {
  it('none, basic, bearer or other — by the scheme word at the start', () => {
    expect(authScheme(undefined)).toBe('none');
    expect(authScheme('')).toBe('none');
    expect(authScheme('   ')).toBe('none');
    expect(authScheme('Basic abc')).toBe('basic');
    expect(authScheme(' basic abc')).toBe('basic');
    expect(authScheme('Bearer abc')).toBe('bearer');
    expect(authScheme('  BEARER abc')).toBe('bearer');
    expect(authScheme('Digest abc')).toBe('other');
    expect(authScheme('xBasic abc')).toBe('other');
    expect(authScheme('xBearer abc')).toBe('other');
    expect(authScheme('Basicabc')).toBe('other');
    expect(authScheme('Bearerabc')).toBe('other');
  });
});

describe('VerifiedLogins', () => {
  const alice = { username: 'hg-a', password: 'pw-1' };

  it('remembers a login for ttlMs, not a moment longer', () => {
    let now = 1000;
    const cache = new VerifiedLogins(500, () => now);
    expect(cache.has(alice)).toBe(false);
    cache.remember(alice);
    expect(cache.has(alice)).toBe(true);
    now = 1499;
    expect(cache.has(alice)).toBe(true);
    now = 1500;
    expect(cache.has(alice)).toBe(false);
    // and the expired entry is gone (remembering again starts a fresh TTL)
    cache.remember(alice);
    now = 1999;
    expect(cache.has(alice)).toBe(true);
  });

  it('another password (or user) is another key; forget drops one login', () => {
    const cache = new VerifiedLogins(10_000);
    cache.remember(alice);
    expect(cache.has({ ...alice, password: 'pw-2' })).toBe(false);
    expect(cache.has({ ...alice, username: 'hg-b' })).toBe(false);
    // the separator keeps "ab"+"c" and "a"+"bc" apart
    cache.remember({ username: 'ab', password: 'c' });
    expect(cache.has({ username: 'a', password: 'bc' })).toBe(false);
    cache.forget(alice);
    expect(cache.has(alice)).toBe(false);
    expect(VerifiedLogins.key(alice)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(VerifiedLogins.key(alice)).not.toContain('pw-1');
  });

  it('ttl 0 disables the cache', () => {
    const cache = new VerifiedLogins(0);
    cache.remember(alice);
    expect(cache.has(alice)).toBe(false);
  });

  it('ttl 0 (or less) stores nothing: no hash of any login is kept', () => {
    for (const ttl of [0, -1]) {
      const cache = new VerifiedLogins(ttl, () => 1000);
      cache.remember(alice);
      cache.remember({ username: 'hg-b', password: 'pw' });
      expect([ttl, cache['entries'].size]).toEqual([ttl, 0]);
    }
  });

  it('keeps at most maxEntries: the oldest goes first', () => {
    const cache = new VerifiedLogins(10_000, Date.now, 2);
    const u = (n: number) => ({ username: `u${n}`, password: 'p' });
    cache.remember(u(1));
    cache.remember(u(2));
    expect([cache.has(u(1)), cache.has(u(2))]).toEqual([true, true]);
    cache.remember(u(3));
    expect([cache.has(u(1)), cache.has(u(2)), cache.has(u(3))]).toEqual([false, true, true]);
  });
});

describe('jwtSubject', () => {
  const jwt = (claims: unknown) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;
  it('reads sub of a three-part token; anything else is undefined', () => {
    expect(jwtSubject(jwt({ sub: 'robot$hg-a' }))).toBe('robot$hg-a');
    expect(jwtSubject(jwt({ sub: 42 }))).toBeUndefined();
    expect(jwtSubject(jwt({}))).toBeUndefined();
    expect(jwtSubject('a.b')).toBeUndefined();
    expect(jwtSubject(`${jwt({ sub: 'x' })}.extra`)).toBeUndefined();
    expect(jwtSubject('h.not-json.s')).toBeUndefined();
    // JSON, but not an object: no subject, no exception.
    expect(jwtSubject(`h.${Buffer.from('null').toString('base64url')}.s`)).toBeUndefined();
    expect(jwtSubject(`h.${Buffer.from('"robot$x"').toString('base64url')}.s`)).toBeUndefined();
  });
});

describe('clientAddress', () => {
  const req = (remoteAddress: string | undefined, xff?: string) =>
    ({ socket: { remoteAddress }, connection: { remoteAddress }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as http.IncomingMessage;

  it('the socket peer, unless it is a trusted proxy; undefined when the socket is gone', () => {
    expect(clientAddress(req('10.0.0.5', '203.0.113.9'))).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', '203.0.113.9'), TRUST_NONE)).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', '203.0.113.9'), compileTrust(['10.0.0.0/8']))).toBe('203.0.113.9');
    expect(clientAddress(req('192.0.2.1', '203.0.113.9'), compileTrust(['10.0.0.0/8']))).toBe('192.0.2.1');
    expect(clientAddress(req(undefined, '203.0.113.9'), compileTrust(['10.0.0.0/8']))).toBeUndefined();
    expect(compileTrust([])).toBe(TRUST_NONE);
  });

  it('the socket gone: undefined, even under a trust rule that would believe every hop (a header alone never names the client)', () => {
    expect(clientAddress(req(undefined, '203.0.113.9'), () => true)).toBeUndefined();
    expect(clientAddress(req('10.0.0.5', '203.0.113.9'), () => true)).toBe('203.0.113.9');
  });
});
