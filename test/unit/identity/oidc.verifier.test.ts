import http from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { createOidcVerifier, describeCause, MAX_TOKEN_LENGTH } from '../../../adapters/identity/oidc.verifier';
import { AppError } from '../../../src/domain/errors';
import { createLogger } from '../../../src/observability/logger';
import { craftToken, decodeToken, startJwks, type TestIdp } from '../../support/tokens';
import { appError } from '../../support/app-refusal';

const project = (id: string, department = 'dept-a') => ({ id, name: `Project ${id}`, department });

describe('createOidcVerifier', () => {
  let idp: TestIdp;
  beforeEach(async () => {
    idp = await startJwks();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await idp.close();
  });

  it('maps a valid member token to a Principal', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    const token = await idp.memberToken({ sub: 'user-1', username: 'alice', projects: [project('p1'), project('p2', 'dept-b')] });
    await expect(verifier.verify(token)).resolves.toEqual({
      userId: 'user-1',
      username: 'alice',
      isCloudAdmin: false,
      projects: [project('p1'), project('p2', 'dept-b')],
    });
  });

  it('accepts an aud array that contains the audience and caches the keys', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    await verifier.verify(await idp.memberToken({ sub: 'u1' }, { aud: ['account', idp.audience] }));
    await verifier.verify(await idp.memberToken({ sub: 'u2' }));
    expect(idp.jwksFetches).toBe(1);
  });

  it('refuses an expired token (beyond the clock tolerance) and accepts one within it', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig({ clockToleranceSeconds: 30 }));
    const err = await appError(verifier.verify(await idp.memberToken({}, { expiresIn: -120 })));
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toBe('token expired');
    await expect(verifier.verify(await idp.memberToken({ sub: 'late' }, { expiresIn: -5 }))).resolves.toMatchObject({ userId: 'late' });
  });

  it('refuses a token that is not yet valid', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig({ clockToleranceSeconds: 30 }));
    const nbf = Math.floor(Date.now() / 1000) + 600;
    const err = await appError(verifier.verify(await idp.memberToken({}, { nbf, expiresIn: 900 })));
    expect([err.kind, err.message]).toEqual(['unauthorized', 'token not yet valid']);
  });

  it('refuses a token without exp', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    const err = await appError(verifier.verify(await idp.memberToken({}, { exp: null })));
    expect([err.kind, err.message]).toEqual(['unauthorized', 'missing claim exp']);
  });

  it('refuses a wrong issuer', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    const token = await idp.memberToken({}, { iss: `${idp.issuer.replace(/hubgate$/, 'other')}` });
    const err = await appError(verifier.verify(token));
    expect([err.kind, err.message]).toEqual(['unauthorized', 'wrong issuer']);
  });

  it('refuses a wrong audience, even when azp names our client', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    const token = await idp.memberToken({ extra: { azp: idp.audience } }, { aud: ['account', 'some-other-client'] });
    const err = await appError(verifier.verify(token));
    expect([err.kind, err.message]).toEqual(['unauthorized', 'wrong audience']);
  });

  it('refuses an ID token (typ ID) as an access token', async () => {
    const verifier = createOidcVerifier(idp.oidcConfig());
    const err = await appError(verifier.verify(await idp.memberToken({ extra: { typ: 'ID' } })));
    expect([err.kind, err.message]).toEqual(['unauthorized', 'wrong token type']);
  });

  describe('signing keys', () => {
    /** jose's JWKS cooldown reads Date.now(); shift it instead of sleeping. */
    const advanceClock = (ms: number) => {
      const base = Date.now.bind(Date);
      const shift = ms;
      jest.spyOn(Date, 'now').mockImplementation(() => base() + shift);
    };

    it('refetches the JWKS once for an unknown kid, then refuses; a second unknown kid within the cooldown does not refetch', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig({ jwksCooldownMs: 60_000 }));
      await verifier.verify(await idp.memberToken());
      expect(idp.jwksFetches).toBe(1);

      advanceClock(61_000); // past the cooldown of the first fetch
      const err = await appError(verifier.verify(await idp.memberToken({}, { foreignKey: true, kid: 'unknown-1' })));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'unknown signing key']);
      expect(idp.jwksFetches).toBe(2);

      const err2 = await appError(verifier.verify(await idp.memberToken({}, { foreignKey: true, kid: 'unknown-2' })));
      expect(err2.message).toBe('unknown signing key');
      expect(idp.jwksFetches).toBe(2);
    });

    it('picks up a rotated key on the first token signed with it', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig({ jwksCooldownMs: 60_000 }));
      const oldKid = idp.kid;
      await verifier.verify(await idp.memberToken());
      const newKid = await idp.rotateKey();
      expect(newKid).not.toBe(oldKid);

      advanceClock(61_000);
      const token = await idp.memberToken({ sub: 'after-rotation' });
      expect(decodeToken(token).header.kid).toBe(newKid);
      await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'after-rotation' });
      expect(idp.jwksFetches).toBe(2);
      // Tokens signed with the previous key stay valid while Keycloak still publishes it.
      await expect(verifier.verify(await idp.memberToken({ sub: 'old' }, { kid: oldKid }))).resolves.toMatchObject({ userId: 'old' });
      expect(idp.jwksFetches).toBe(2);
    });

    it('refuses a token signed by an unpublished key that claims a published kid', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const err = await appError(verifier.verify(await idp.memberToken({}, { foreignKey: true, kid: idp.kid })));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'invalid signature']);
    });

    it('never uses the published encryption key for signatures', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const err = await appError(verifier.verify(await idp.memberToken({}, { kid: `${idp.kid}-enc` })));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'unknown signing key']);
    });
  });

  describe('algorithms', () => {
    it('refuses alg none (hand-crafted) without fetching keys', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const now = Math.floor(Date.now() / 1000);
      const token = craftToken(
        { alg: 'none', typ: 'JWT' },
        { iss: idp.issuer, aud: idp.audience, sub: 'mallory', exp: now + 300, iat: now, realm_access: { roles: [idp.adminRole] } },
      );
      const err = await appError(verifier.verify(token));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'algorithm not allowed']);
      expect(idp.jwksFetches).toBe(0);
    });

    it('refuses HS256 signed with the public key bytes (algorithm confusion)', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const pem = await idp.publicKeyPem();
      const token = await idp.adminToken({ sub: 'mallory' }, { alg: 'HS256', key: new TextEncoder().encode(pem) });
      const err = await appError(verifier.verify(token));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'algorithm not allowed']);
    });

    it('refuses an HS256 token built by hand over the JWK modulus too', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: 'HS256', typ: 'JWT', kid: idp.kid };
      const payload = { iss: idp.issuer, aud: idp.audience, sub: 'mallory', exp: now + 300 };
      const unsigned = craftToken(header, payload).slice(0, -1);
      const sig = createHmac('sha256', await idp.publicKeyPem()).update(unsigned).digest('base64url');
      const err = await appError(verifier.verify(`${unsigned}.${sig}`));
      expect(err.message).toBe('algorithm not allowed');
    });

    it('refuses an allowed-family algorithm that is not configured (RS512 when only RS256 is allowed)', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig({ algorithms: ['RS256'] }));
      const err = await appError(verifier.verify(await idp.memberToken({}, { alg: 'RS512' })));
      expect(err.message).toBe('algorithm not allowed');
    });
  });

  describe('tampering and garbage', () => {
    it('refuses a token whose payload was changed after signing', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const token = await idp.memberToken({ sub: 'bob', projects: [project('p1')] });
      await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'bob' });
      const { header, payload, signature } = decodeToken(token);
      const forged = craftToken(header, { ...payload, realm_access: { roles: [idp.adminRole] } }, signature);
      const err = await appError(verifier.verify(forged));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'invalid signature']);
    });

    it.each([
      ['empty', ''],
      ['one part', 'abc'],
      ['two parts', 'abc.def'],
      ['four parts', 'a.b.c.d'],
      ['not base64 json', 'abc.def.ghi'],
      ['header not json', `${Buffer.from('nope').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.sig`],
      ['oversized', `${'a'.repeat(70 * 1024)}.b.c`],
    ])('refuses a malformed token (%s)', async (_name, token) => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const err = await appError(verifier.verify(token));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'malformed token']);
    });

    it('refuses a non-JSON payload with a made-up signature under a real kid', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const { header } = decodeToken(await idp.memberToken());
      const err = await appError(verifier.verify(craftToken(header, 'not json', 'c2ln')));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'invalid signature']);
    });

    it('never puts the token into the error message', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const tokens = [
        await idp.memberToken({}, { expiresIn: -3600 }),
        await idp.memberToken({}, { aud: 'x' }),
        await idp.memberToken({}, { foreignKey: true, kid: 'nope' }),
        'abc.def.ghi',
      ];
      for (const t of tokens) {
        const err = await appError(verifier.verify(t));
        expect(err.message).not.toContain(t);
        expect(err.message.length).toBeLessThan(40);
      }
    });
  });

  describe('claims', () => {
    it('grants cloud admin from a realm role', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      await expect(verifier.verify(await idp.adminToken({ sub: 'root' }))).resolves.toMatchObject({ userId: 'root', isCloudAdmin: true });
    });

    it('grants cloud admin from a client role when the source is client:<id>, and ignores the realm role then', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig({ claims: { adminRoleSource: 'client:hubgate' } }));
      const viaClient = await idp.memberToken({ clientRoles: { hubgate: [idp.adminRole] } });
      await expect(verifier.verify(viaClient)).resolves.toMatchObject({ isCloudAdmin: true });
      const viaOtherClient = await idp.memberToken({ clientRoles: { console: [idp.adminRole] } });
      await expect(verifier.verify(viaOtherClient)).resolves.toMatchObject({ isCloudAdmin: false });
      await expect(verifier.verify(await idp.adminToken())).resolves.toMatchObject({ isCloudAdmin: false });
    });

    it('reads projects from a configured dot path and drops invalid entries with a debug log', async () => {
      const lines: string[] = [];
      const logger = createLogger('debug', (l) => lines.push(l));
      const verifier = createOidcVerifier({ ...idp.oidcConfig({ claims: { projects: 'platform.projects' } }), logger });
      const token = await idp.memberToken({
        sub: 'carol',
        extra: { platform: { projects: [project('p1'), { id: 'p2' }, 42, 'dept-c/p3', project('p1', 'dept-z')] } },
      });
      const principal = await verifier.verify(token);
      expect(principal.projects).toEqual([project('p1'), { id: 'p3', name: 'p3', department: 'dept-c' }]);
      const debug = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'debug');
      expect(debug).toEqual([expect.objectContaining({ msg: 'token project entries ignored', invalid: 2, duplicates: 1 })]);
    });

    it('refuses a token without the user id claim', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig({ claims: { userId: 'user_id' } }));
      const err = await appError(verifier.verify(await idp.memberToken()));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'missing claim user_id']);
    });
  });

  describe('JWKS endpoint unavailable', () => {
    it.each([
      ['answers 500', 'error' as const],
      ['answers non-JSON', 'garbage' as const],
    ])('→ upstream_unavailable when it %s', async (_name, mode) => {
      idp.setMode(mode, 500);
      const verifier = createOidcVerifier(idp.oidcConfig());
      const err = await appError(verifier.verify(await idp.memberToken()));
      expect([err.kind, err.message]).toEqual(['upstream_unavailable', 'identity provider unavailable']);
      idp.setMode('ok');
      await expect(verifier.verify(await idp.memberToken({ sub: 'recovered' }))).resolves.toMatchObject({ userId: 'recovered' });
    });

    it('→ upstream_unavailable when it does not answer in time', async () => {
      idp.setMode('hang');
      const verifier = createOidcVerifier({ ...idp.oidcConfig(), jwksTimeoutMs: 300 });
      // the JWKS server never answers: without the timeout this would hang until jest gave up on the test
      const err = await appError(verifier.verify(await idp.memberToken()));
      expect(err.kind).toBe('upstream_unavailable');
    });

    it('→ upstream_unavailable when nothing listens, and logs a warning without the token', async () => {
      const port = await closedPort();
      const lines: string[] = [];
      const verifier = createOidcVerifier({
        ...idp.oidcConfig({ jwksUrl: `http://127.0.0.1:${port}/realms/hubgate/protocol/openid-connect/certs` }),
        logger: createLogger('debug', (l) => lines.push(l)),
      });
      const token = await idp.memberToken();
      const err = await appError(verifier.verify(token));
      expect(err.kind).toBe('upstream_unavailable');
      expect(lines.some((l) => l.includes('ECONNREFUSED'))).toBe(true);
      expect(lines.join('\n')).not.toContain(token.split('.')[1]);
    });

    it('keeps verifying with cached keys while the endpoint is down', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      await verifier.verify(await idp.memberToken());
      idp.setMode('error', 503);
      await expect(verifier.verify(await idp.memberToken({ sub: 'cached' }))).resolves.toMatchObject({ userId: 'cached' });
    });
  });

  describe('exact reasons and bounds', () => {
    it('a validly signed token longer than 64 KiB is refused unread; one of exactly 64 KiB is verified', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      const exactly = await tokenOfLength(idp, MAX_TOKEN_LENGTH);
      expect(exactly.length).toBe(MAX_TOKEN_LENGTH);
      await expect(verifier.verify(exactly)).resolves.toMatchObject({ userId: 'big' });
      const over = await tokenOfLength(idp, MAX_TOKEN_LENGTH + 1);
      expect(over.length).toBe(MAX_TOKEN_LENGTH + 1);
      const err = await appError(verifier.verify(over));
      expect([err.kind, err.message]).toEqual(['unauthorized', 'malformed token']);
      // empty, or not three parts: jose's own refusal, the same reason
      for (const t of ['', 'a.b', 'a.b.c.d']) expect((await appError(verifier.verify(t))).message).toBe('malformed token');
    });

    it('a token without iss or aud names the missing claim; another invalid registered claim is a malformed token', async () => {
      const verifier = createOidcVerifier(idp.oidcConfig());
      expect((await appError(verifier.verify(await idp.memberToken({}, { iss: null })))).message).toBe('missing claim iss');
      expect((await appError(verifier.verify(await idp.memberToken({}, { aud: null })))).message).toBe('missing claim aud');
      expect((await appError(verifier.verify(await idp.memberToken({}, { iat: 'yesterday' as unknown as number })))).message).toBe('malformed token');
    });

    it('jwksTimeoutMs is the JWKS request timeout: a key set answered after 1 s is unavailable at 300 ms, served at 3 s', async () => {
      const certs = new URL(idp.oidcConfig().jwksUrl).pathname;
      const body = await (await fetch(idp.oidcConfig().jwksUrl)).text();
      idp.use((_req, res, path) => {
        if (path !== certs) return false;
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body), 1000);
        return true;
      });
      const lines: string[] = [];
      const impatient = createOidcVerifier({ ...idp.oidcConfig(), jwksTimeoutMs: 300, logger: createLogger('warn', (l) => lines.push(l)) });
      const err = await appError(impatient.verify(await idp.memberToken()));
      expect([err.kind, err.message]).toEqual(['upstream_unavailable', 'identity provider unavailable']);
      expect((err as AppError & { cause?: Error }).cause?.constructor.name).toBe('JWKSTimeout');
      expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ level, msg, reason }) => ({ level, msg, reason }))).toEqual([
        { level: 'warn', msg: 'identity provider keys unavailable', reason: 'timeout' },
      ]);
      const patient = createOidcVerifier({ ...idp.oidcConfig(), jwksTimeoutMs: 3000 });
      await expect(patient.verify(await idp.memberToken({ sub: 'waited' }))).resolves.toMatchObject({ userId: 'waited' });
    });

    it.each([
      ['a 500', 'error' as const, 'Expected 200 OK from the JSON Web Key Set HTTP response'],
      ['non-JSON', 'garbage' as const, 'Failed to parse the JSON Web Key Set HTTP response as JSON'],
    ])('the warning names why the keys could not be had: %s gives jose\'s message, not its code', async (_name, mode, reason) => {
      idp.setMode(mode, 500);
      const lines: string[] = [];
      const verifier = createOidcVerifier({ ...idp.oidcConfig(), logger: createLogger('warn', (l) => lines.push(l)) });
      await appError(verifier.verify(await idp.memberToken()));
      expect(lines.map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual([reason]);
    });

    it('a JSON document that is not a key set: "not a key set"; nothing listening: the socket error code', async () => {
      idp.use((_req, res, path) => {
        if (path !== new URL(idp.oidcConfig().jwksUrl).pathname) return false;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"no"}');
        return true;
      });
      const lines: string[] = [];
      const log = createLogger('warn', (l) => lines.push(l));
      await appError(createOidcVerifier({ ...idp.oidcConfig(), logger: log }).verify(await idp.memberToken()));
      const port = await closedPort();
      await appError(createOidcVerifier({ ...idp.oidcConfig({ jwksUrl: `http://127.0.0.1:${port}/certs` }), logger: log }).verify(await idp.memberToken()));
      expect(lines.map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual(['not a key set', 'ECONNREFUSED']);
    });

    it('the reason of a cause without a code or a message is "unknown"; a socket code wins over the message', () => {
      expect(describeCause({})).toBe('unknown');
      expect(describeCause(undefined)).toBe('unknown');
      expect(describeCause(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
      expect(describeCause(Object.assign(new Error('jose says'), { code: 'ERR_JOSE_GENERIC' }))).toBe('jose says');
    });

    it('jwksAgent carries the JWKS request', async () => {
      let connections = 0;
      const agent = new (class extends http.Agent {
        override createConnection(...args: Parameters<http.Agent['createConnection']>) {
          connections += 1;
          return super.createConnection(...args);
        }
      })();
      const verifier = createOidcVerifier({ ...idp.oidcConfig(), jwksAgent: agent });
      await expect(verifier.verify(await idp.memberToken({ sub: 'via-agent' }))).resolves.toMatchObject({ userId: 'via-agent' });
      expect(connections).toBe(1);
      agent.destroy();
    });
  });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A member token of exactly `length` characters (padding claim and, where base64 cannot land on it, header). */
async function tokenOfLength(idp: TestIdp, length: number): Promise<string> {
  for (let h = 0; h < 4; h++) {
    const mint = (n: number) => idp.memberToken({ sub: 'big', extra: { pad: 'x'.repeat(n) } }, { header: { h: 'y'.repeat(h) } });
    let n = Math.max(0, Math.floor(((length - (await mint(0)).length) * 3) / 4) - 8);
    for (let t = await mint(n); t.length <= length; t = await mint(++n)) if (t.length === length) return t;
  }
  throw new Error(`no token of length ${length}`);
}
