/**
 * Which bearer tokens the registry front passes on to Harbor (src/http/registry/bearer.ts), on the class itself:
 * token extraction, the certificate bundle, the subject rule, expiry with its tolerance, signature mode (jose,
 * one or more certificates) and record mode (this process's record, shared through the cache), the verdict cache
 * and the bounds of the in-process tables. A fake clock throughout; no timed assertions.
 */
import { createSign, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bearerToken, certificateKeys, RegistryTokens, type RegistryTokensDeps } from '../../../src/http/registry/bearer';
import type { Cache } from '../../../src/ports/coordination';
import { signingMaterial, type SigningMaterial } from '../../harbor-double/keys';

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** A second token-service key and certificate (a Harbor whose certificate was rotated, or a foreign signer). */
function otherMaterial(): SigningMaterial {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bearer-test-key-'));
  try {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = path.join(dir, 'k.pem');
    fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    const certFile = path.join(dir, 'c.pem');
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '3650', '-subj', '/CN=other-issuer'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { privateKey, publicKey, certPem: fs.readFileSync(certFile, 'utf8'), kid: 'other' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const harbor = signingMaterial();
const other = otherMaterial();

/** Fake clock, ms. Far from the real time, so a check that used the real clock instead would fail. */
const T0 = Date.UTC(2030, 0, 1);
let t = T0;
const now = () => t;
const sec = () => Math.floor(t / 1000);

/** An RS256 token (or any header) with exactly these claims. */
function sign(claims: Record<string, unknown>, key: SigningMaterial = harbor, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(key.privateKey))}`;
}
/** Harbor's registry-token claims for `sub` (omitted: anonymous), valid for `life` seconds from the fake now. */
const claims = (sub: string | undefined, life = 300, extra: Record<string, unknown> = {}) => ({
  iss: 'harbor-token-issuer',
  aud: 'harbor-registry',
  iat: sec(),
  nbf: sec(),
  exp: sec() + life,
  ...(sub !== undefined ? { sub } : {}),
  access: [],
  ...extra,
});
const robot = (life = 300, key: SigningMaterial = harbor) => sign(claims('robot$hg-p1', life), key);

class FakeCache implements Cache {
  store = new Map<string, { v: unknown; ttl: number }>();
  gets = 0;
  async get<T>(k: string): Promise<T | undefined> {
    this.gets++;
    return this.store.get(k)?.v as T | undefined;
  }
  async set<T>(k: string, v: T, ttl: number): Promise<void> {
    this.store.set(k, { v, ttl });
  }
  async del(...ks: string[]): Promise<void> {
    for (const k of ks) this.store.delete(k);
  }
}

const base: RegistryTokensDeps = { robotPrefix: 'robot$', usernamePrefix: 'hg-', allowAnonymousPull: false, now };
const bySignature = (more: Partial<RegistryTokensDeps> = {}) => new RegistryTokens({ ...base, certificatePem: harbor.certPem, ...more });
const byRecord = (more: Partial<RegistryTokensDeps> = {}) => new RegistryTokens({ ...base, ...more });
const up = { shared: () => true };
const down = { shared: () => false };

beforeEach(() => {
  t = T0;
});

describe('bearerToken', () => {
  it('takes the JWT of "Bearer <jwt>", any case of the scheme, blanks around; an empty signature part is still JWT-shaped', () => {
    expect(bearerToken('Bearer aa.bb.cc')).toBe('aa.bb.cc');
    expect(bearerToken('  bearer   a-_9.B-_0.c_-Z  ')).toBe('a-_9.B-_0.c_-Z');
    expect(bearerToken('BEARER a.b.')).toBe('a.b.');
  });

  it('nothing for no header, another scheme, junk before or after, two parts, four parts or characters outside base64url', () => {
    for (const h of [undefined, '', 'Basic a.b.c', 'xBearer a.b.c', 'Bearer a.b.c d', 'Bearer a.b.c!', 'Bearer a.b', 'Bearer a.b.c.d', 'Bearer a+b.c.d', 'Bearer .b.c', 'Bearer a..c', 'Bearera.b.c']) {
      expect(bearerToken(h)).toBeUndefined();
    }
  });
});

describe('certificateKeys', () => {
  it('one public key per certificate of a PEM bundle, in order', () => {
    const keys = certificateKeys(`${harbor.certPem}\n${other.certPem}`);
    expect(keys).toHaveLength(2);
    expect(keys[0].export({ type: 'spki', format: 'pem' })).toBe(harbor.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(keys[1].export({ type: 'spki', format: 'pem' })).toBe(other.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('refuses a text with no certificate in it', () => {
    expect(() => certificateKeys('-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n')).toThrow('no PEM certificate found');
    expect(() => certificateKeys('')).toThrow('no PEM certificate found');
  });

  it('the mode follows the configuration: a certificate means signature checks, none means the record', () => {
    expect(bySignature().mode).toBe('signature');
    expect(byRecord().mode).toBe('record');
    expect(byRecord({ certificatePem: '' }).mode).toBe('record');
  });
});

describe('signature mode', () => {
  it("passes Harbor's token for a hubgate robot, with its subject", async () => {
    expect(await bySignature().check(robot())).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('checks the signature against every certificate of the bundle (a rotated certificate second)', async () => {
    const tokens = bySignature({ certificatePem: `${other.certPem}${harbor.certPem}` });
    expect(await tokens.check(robot())).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(await tokens.check(robot(300, other))).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('refuses a token signed by a key whose certificate is not configured', async () => {
    expect(await bySignature().check(robot(300, other))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses any algorithm but RS256, "none" and HS256 included, even with a valid RSA signature', async () => {
    const tokens = bySignature();
    expect(await tokens.check(sign(claims('robot$hg-p1'), harbor, { alg: 'RS512' }))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await tokens.check(sign(claims('robot$hg-p1'), harbor, { alg: 'none' }))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await tokens.check(sign(claims('robot$hg-p1'), harbor, { alg: 'HS256' }))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await tokens.check(sign(claims('robot$hg-p1'), harbor, { typ: 'JWT' }))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('a validly signed token whose header asks for an extension jose does not know ("crit") is a bad signature, not a claims failure', async () => {
    expect(await bySignature().check(sign(claims('robot$hg-p1'), harbor, { alg: 'RS256', crit: ['x-hubgate'], 'x-hubgate': 1 }))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('a header that is not JSON is malformed', async () => {
    const good = robot().split('.');
    expect(await bySignature().check(`${b64url('not json')}.${good[1]}.${good[2]}`)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses another issuer, another audience, and a token not valid yet (nbf beyond the tolerance): "claims"', async () => {
    const tokens = bySignature();
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { iss: 'someone' })))).toEqual({ ok: false, reason: 'claims' });
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { aud: 'another-service' })))).toEqual({ ok: false, reason: 'claims' });
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { nbf: sec() + 31 })))).toEqual({ ok: false, reason: 'claims' });
    // Within the 30 s tolerance: accepted.
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { nbf: sec() + 29 })))).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('a configured tolerance replaces the 30 s default, for nbf too', async () => {
    const tokens = bySignature({ clockToleranceSeconds: 5 });
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { nbf: sec() + 10 })))).toEqual({ ok: false, reason: 'claims' });
    expect(await tokens.check(sign(claims('robot$hg-p1', 300, { nbf: sec() + 4 })))).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('judges time by the configured clock, not the machine clock', async () => {
    // Valid in 2030 (the fake now); the machine clock is years earlier, where nbf is still far ahead.
    expect(await bySignature().check(robot())).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('issued() records nothing in signature mode (the cache is never written)', async () => {
    const cache = new FakeCache();
    await bySignature({ cache, coordination: up }).issued(robot());
    expect(cache.store.size).toBe(0);
  });
});

describe('expiry and claims every mode reads', () => {
  it('expired once exp plus the 30 s tolerance is reached, to the millisecond', async () => {
    const token = robot(60);
    const exp = (sec() + 60) * 1000;
    t = exp + 30_000 - 1;
    expect(await bySignature().check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    t = exp + 30_000;
    expect(await bySignature().check(token)).toEqual({ ok: false, reason: 'expired' });
  });

  it('a configured tolerance replaces the default for exp', async () => {
    const token = robot(60);
    const exp = (sec() + 60) * 1000;
    t = exp + 5_000 - 1;
    expect(await bySignature({ clockToleranceSeconds: 5 }).check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    t = exp + 5_000;
    expect(await bySignature({ clockToleranceSeconds: 5 }).check(token)).toEqual({ ok: false, reason: 'expired' });
  });

  it('malformed: not a JWT, no exp, an exp that is not a number', async () => {
    const tokens = bySignature();
    expect(await tokens.check('a.b.c')).toEqual({ ok: false, reason: 'malformed' });
    expect(await tokens.check(sign({ ...claims('robot$hg-p1'), exp: undefined }))).toEqual({ ok: false, reason: 'malformed' });
    expect(await tokens.check(sign({ ...claims('robot$hg-p1'), exp: String(sec() + 300) }))).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('subject rule', () => {
  it('a hubgate robot passes with its name; anything else is foreign', async () => {
    const tokens = bySignature();
    expect(await tokens.check(sign(claims('robot$hg-team-1')))).toEqual({ ok: true, subject: 'robot$hg-team-1' });
    for (const sub of ['admin', 'hg-p1', 'robot$ci', 'robot$hg', 'xrobot$hg-p1', 'robot$hg-p1$ci', 'robot$x$hg-p1']) {
      expect([sub, await tokens.check(sign(claims(sub)))]).toEqual([sub, { ok: false, reason: 'foreign_subject' }]);
    }
  });

  it('the prefixes come from the configuration', async () => {
    const tokens = bySignature({ robotPrefix: 'bot+', usernamePrefix: 'team-' });
    expect(await tokens.check(sign(claims('bot+team-a')))).toEqual({ ok: true, subject: 'bot+team-a' });
    expect(await tokens.check(sign(claims('robot$hg-p1')))).toEqual({ ok: false, reason: 'foreign_subject' });
  });

  it('an anonymous token (no sub, empty sub, or a sub that is not a string) passes only while anonymous pulls are enabled', async () => {
    const anonymous = [sign(claims(undefined)), sign(claims('')), sign(claims(undefined, 300, { sub: 42 }))];
    for (const token of anonymous) {
      expect(await bySignature().check(token)).toEqual({ ok: false, reason: 'anonymous' });
      expect(await bySignature({ allowAnonymousPull: true }).check(token)).toEqual({ ok: true, subject: '' });
    }
  });
});

describe('verdict cache', () => {
  it('a token found good is not checked again until exp plus the tolerance, then it is expired', async () => {
    const cache = new FakeCache();
    const tokens = byRecord({ cache, coordination: up });
    const token = robot(60);
    await tokens.issued(token);
    expect(await tokens.check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    const exp = (sec() + 60) * 1000;
    // Dropped from this process's record and from Redis: the cached verdict still answers until it runs out.
    cache.store.clear();
    t = exp + 30_000 - 1;
    expect(await tokens.check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(cache.gets).toBe(0);
    t = exp + 30_000;
    expect(await tokens.check(token)).toEqual({ ok: false, reason: 'expired' });
  });

  it('checkAccepted (the promise-free fast path of the router) answers only for a token check() found good, until exp plus the tolerance; an expired one whose subject is still kept gets undefined', async () => {
    const tokens = bySignature();
    const token = robot(60);
    const foreign = sign(claims('robot$ci'));
    // Never checked: the fast path knows nothing, the caller must ask check().
    expect(tokens.checkAccepted(token)).toBeUndefined();
    expect(await tokens.check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(await tokens.check(foreign)).toEqual({ ok: false, reason: 'foreign_subject' });
    expect(tokens.checkAccepted(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(tokens.checkAccepted(foreign)).toBeUndefined();
    const exp = (sec() + 60) * 1000;
    t = exp + 30_000 - 1;
    expect(tokens.checkAccepted(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    // Its subject is still in the subjects table (only pruned past the bound): the verdict's expiry decides.
    t = exp + 30_000;
    expect((tokens as unknown as { subjects: Map<string, string> }).subjects.size).toBe(1);
    expect(tokens.checkAccepted(token)).toBeUndefined();
    expect(await tokens.check(token)).toEqual({ ok: false, reason: 'expired' });
  });

  it('a refused token is not cached as good (a foreign subject stays foreign, the next good token is still checked)', async () => {
    const tokens = bySignature();
    const foreign = sign(claims('robot$ci'));
    expect(await tokens.check(foreign)).toEqual({ ok: false, reason: 'foreign_subject' });
    expect(await tokens.check(foreign)).toEqual({ ok: false, reason: 'foreign_subject' });
    expect(await tokens.check(robot(300, other))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('each token keeps its own subject', async () => {
    const tokens = bySignature();
    const a = sign(claims('robot$hg-a'));
    const b = sign(claims('robot$hg-b'));
    expect(await tokens.check(a)).toEqual({ ok: true, subject: 'robot$hg-a' });
    expect(await tokens.check(b)).toEqual({ ok: true, subject: 'robot$hg-b' });
    expect(await tokens.check(a)).toEqual({ ok: true, subject: 'robot$hg-a' });
  });

  it('the subjects kept for cached verdicts stay bounded: past 2 × the verdict cache + 64, those of dropped tokens go', async () => {
    const tokens = bySignature({ maxEntries: 2 });
    const subjects = () => (tokens as unknown as { subjects: Map<string, string> }).subjects.size;
    for (let i = 0; i < 68; i++) expect((await tokens.check(sign(claims(`robot$hg-p${i}`)))).ok).toBe(true);
    // 2 cached verdicts: up to 2 * 2 + 64 = 68 subjects are kept as they are.
    expect(subjects()).toBe(68);
    expect((await tokens.check(sign(claims('robot$hg-p68')))).ok).toBe(true);
    // The 69th: every subject whose token left the verdict cache goes; the two cached ones stay.
    expect(subjects()).toBe(2);
    expect(await tokens.check(sign(claims('robot$hg-p68')))).toEqual({ ok: true, subject: 'robot$hg-p68' });
  });
});

describe('record mode', () => {
  it('passes exactly the tokens this process handed out; a validly signed token it never handed out is "not_issued"', async () => {
    const tokens = byRecord();
    const mine = robot();
    await tokens.issued(mine);
    expect(await tokens.check(mine)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(await tokens.check(robot(301))).toEqual({ ok: false, reason: 'not_issued' });
  });

  it('the record of a token ends at its exp (this process), to the millisecond', async () => {
    const token = robot(60);
    const exp = (sec() + 60) * 1000;
    const a = byRecord();
    await a.issued(token);
    t = exp - 1;
    expect(await a.check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    t = T0;
    const b = byRecord();
    await b.issued(token);
    t = exp;
    expect(await b.check(token)).toEqual({ ok: false, reason: 'not_issued' });
  });

  it('issued() ignores nothing-to-record: no token, junk, no exp, already expired (exp now or earlier)', async () => {
    const cache = new FakeCache();
    const tokens = byRecord({ cache, coordination: up });
    await tokens.issued(undefined);
    await tokens.issued('');
    await tokens.issued('junk');
    await tokens.issued(sign({ ...claims('robot$hg-p1'), exp: undefined }));
    const atNow = robot(0);
    await tokens.issued(atNow);
    expect(cache.store.size).toBe(0);
    expect(await tokens.check(atNow)).toEqual({ ok: false, reason: 'not_issued' });
    const soon = robot(1);
    await tokens.issued(soon);
    expect(cache.store.size).toBe(1);
  });

  it('shares the record through the cache while Redis is up: a hash key with the remaining lifetime (rounded up), never the token', async () => {
    const cache = new FakeCache();
    const token = robot(60);
    t += 500;
    await byRecord({ cache, coordination: up }).issued(token);
    const [[key, entry]] = [...cache.store.entries()];
    expect(key).toMatch(/^registry-token:[A-Za-z0-9_-]{43}$/);
    expect(entry).toEqual({ v: 1, ttl: 60 });
    expect(JSON.stringify([...cache.store])).not.toContain(token);
    // Another replica (its own process record empty) accepts it through the cache.
    expect(await byRecord({ cache, coordination: up }).check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    // A replica that does not share (Redis down) does not ask the cache, and refuses it.
    const before = cache.gets;
    expect(await byRecord({ cache, coordination: down }).check(token)).toEqual({ ok: false, reason: 'not_issued' });
    expect(cache.gets).toBe(before);
  });

  it('while Redis is down, issued() keeps the token in this process only', async () => {
    const cache = new FakeCache();
    const tokens = byRecord({ cache, coordination: down });
    const token = robot();
    await tokens.issued(token);
    expect(cache.store.size).toBe(0);
    expect(await tokens.check(token)).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('a failing cache degrades to this process: issued() still records locally, check() refuses what it cannot find', async () => {
    const broken: Cache = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')), del: () => Promise.reject(new Error('down')) };
    const tokens = byRecord({ cache: broken, coordination: up });
    const mine = robot();
    await expect(tokens.issued(mine)).resolves.toBeUndefined();
    expect(await tokens.check(mine)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(await tokens.check(robot(301))).toEqual({ ok: false, reason: 'not_issued' });
  });

  it('a cache without coordination is not used', async () => {
    const cache = new FakeCache();
    const tokens = byRecord({ cache });
    await tokens.issued(robot());
    expect(cache.store.size).toBe(0);
    expect(await tokens.check(robot(301))).toEqual({ ok: false, reason: 'not_issued' });
    expect(cache.gets).toBe(0);
  });

  it('the record is bounded: the oldest token drops out first; recording a token again makes it the newest', async () => {
    const tokens = byRecord({ maxEntries: 2 });
    const [a, b, c] = [robot(100), robot(200), robot(300)];
    await tokens.issued(a);
    await tokens.issued(b);
    await tokens.issued(a);
    await tokens.issued(c);
    expect(await tokens.check(b)).toEqual({ ok: false, reason: 'not_issued' });
    expect(await tokens.check(a)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(await tokens.check(c)).toEqual({ ok: true, subject: 'robot$hg-p1' });
  });

  it('the verdict cache is bounded too: a token dropped from it is looked up again', async () => {
    const cache = new FakeCache();
    const tokens = byRecord({ cache, coordination: up, maxEntries: 1 });
    const [a, b] = [robot(100), robot(200)];
    await tokens.issued(a);
    await tokens.issued(b);
    expect((await tokens.check(a)).ok).toBe(true);
    expect((await tokens.check(b)).ok).toBe(true);
    const before = cache.gets;
    // a left both the record (bound 1) and the verdict cache: only the shared record knows it now.
    expect(await tokens.check(a)).toEqual({ ok: true, subject: 'robot$hg-p1' });
    expect(cache.gets).toBe(before + 1);
  });
});
