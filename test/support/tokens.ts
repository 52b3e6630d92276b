/**
 * A stand-in for a Keycloak realm in tests: a local JWKS server on 127.0.0.1 (random port) plus helpers to
 * mint access tokens shaped like Keycloak's.
 *
 *   const idp = await startJwks();
 *   const verifier = createOidcVerifier(idp.oidcConfig());
 *   const token = await idp.memberToken({ sub: 'u1', projects: [{ id: 'p1', name: 'Demo', department: 'd1' }] });
 *   ...
 *   await idp.close();
 *
 * Everything is loopback-only. Call `close()` in afterAll/afterEach.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import type { Config } from '../../src/config';
import type { PlatformProject } from '../../src/domain/principal';

export const DEFAULT_AUDIENCE = 'hubgate';
export const DEFAULT_REALM = 'hubgate';
export const DEFAULT_ADMIN_ROLE = 'cloud-admin';

export interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
  publicJwk: JWK;
}

export interface MintOptions {
  /** Signing algorithm (default RS256). `HS*` needs `key` as bytes. Use `craftToken` for `alg: none`. */
  alg?: string;
  /**
   * `kid` header. A kid of a key this realm knows (current or previous) selects that key; an unknown kid is put
   * in the header while the current key signs. `null` omits the header.
   */
  kid?: string | null;
  /** Sign with this key instead (e.g. a foreign private key, or the public key PEM bytes for HS256). */
  key?: KeyLike | Uint8Array;
  /** Sign with a freshly generated key that the JWKS never publishes. */
  foreignKey?: boolean;
  /** Seconds until expiry (default 300); negative for an already expired token. Ignored when `exp` is given. */
  expiresIn?: number;
  /** Explicit claim values; `null` removes the claim. */
  exp?: number | null;
  nbf?: number | null;
  iat?: number | null;
  iss?: string | null;
  aud?: string | string[] | null;
  /** Extra protected-header parameters. */
  header?: Record<string, unknown>;
}

export interface PrincipalTokenInput {
  sub?: string;
  username?: string;
  projects?: Array<PlatformProject | string>;
  /** Realm roles (in addition to Keycloak's defaults). */
  realmRoles?: string[];
  /** Client roles, by client id. */
  clientRoles?: Record<string, string[]>;
  /** Anything else to put in the payload (overrides the defaults). */
  extra?: Record<string, unknown>;
}

export interface JwksMode {
  /** 'ok' serves the key set; 'error' answers with `status`; 'garbage' answers 200 with non-JSON; 'hang' never answers. */
  mode: 'ok' | 'error' | 'garbage' | 'hang';
  status?: number;
}

export interface TestIdp {
  /** `http://127.0.0.1:<port>/realms/<realm>` — the `iss` of minted tokens. */
  readonly issuer: string;
  /** `<issuer>/protocol/openid-connect/certs`. */
  readonly jwksUrl: string;
  readonly audience: string;
  readonly adminRole: string;
  readonly port: number;
  /** The kid of the key currently used for signing. */
  readonly kid: string;
  /** Requests the JWKS endpoint has received (whatever it answered). */
  readonly jwksFetches: number;
  /** Config['oidc'] pointing at this realm (defaults as in config.ts), with overrides merged. */
  oidcConfig(overrides?: Partial<Omit<Config['oidc'], 'claims'>> & { claims?: Partial<Config['oidc']['claims']> }): Config['oidc'];
  /** Signs a token: Keycloak-like defaults (iss, aud, azp, sub, iat, exp, typ Bearer) merged with `claims`. */
  mint(claims?: Record<string, unknown>, opts?: MintOptions): Promise<string>;
  /** A member of the given platform projects (no admin role). */
  memberToken(input?: PrincipalTokenInput, opts?: MintOptions): Promise<string>;
  /** A cloud admin (realm role `adminRole`), optionally also member of projects. */
  adminToken(input?: PrincipalTokenInput, opts?: MintOptions): Promise<string>;
  /** Generates a new signing key with a new kid; the JWKS then serves it (and the old one unless dropPrevious). */
  rotateKey(opts?: { dropPrevious?: boolean }): Promise<string>;
  /** PEM (SPKI) of the current public key — e.g. as the HMAC secret of an algorithm-confusion token. */
  publicKeyPem(): Promise<string>;
  /** Makes the JWKS endpoint misbehave (or behave again). */
  setMode(mode: JwksMode['mode'], status?: number): void;
  /** Adds request handling in front of the realm's own (e.g. the code flow of test/support/oidc-login.ts); true = handled. */
  use(handler: (req: IncomingMessage, res: ServerResponse, path: string) => boolean): void;
  close(): Promise<void>;
}

export interface StartJwksOptions {
  audience?: string;
  realm?: string;
  adminRole?: string;
  /** Algorithm of the realm keys (default RS256). */
  alg?: 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';
}

export async function startJwks(options: StartJwksOptions = {}): Promise<TestIdp> {
  const alg = options.alg ?? 'RS256';
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const realm = options.realm ?? DEFAULT_REALM;
  const adminRole = options.adminRole ?? DEFAULT_ADMIN_ROLE;

  const newKey = async (): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return { kid, privateKey, publicKey, publicJwk };
  };

  let keys: SigningKey[] = [await newKey()]; // keys[0] signs
  let fetches = 0;
  let mode: JwksMode = { mode: 'ok' };
  const handlers: Array<(req: IncomingMessage, res: ServerResponse, path: string) => boolean> = [];

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (handlers.some((h) => h(req, res, path))) return;
    if (path === `/realms/${realm}/protocol/openid-connect/certs`) {
      fetches += 1;
      return serveJwks(res);
    }
    if (path === `/realms/${realm}/.well-known/openid-configuration`) {
      return json(res, 200, { issuer: issuer(), jwks_uri: jwksUrl(), id_token_signing_alg_values_supported: [alg] });
    }
    json(res, 404, { error: 'not found' });
  });
  const serveJwks = (res: ServerResponse) => {
    switch (mode.mode) {
      case 'hang':
        return; // the socket stays open until close()
      case 'error':
        return json(res, mode.status ?? 500, { error: 'unavailable' });
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json');
        return;
      default:
        return json(res, 200, { keys: [...keys.map((k) => k.publicJwk), ...encryptionKey()] });
    }
  };

  // Keycloak also publishes an RSA encryption key (use "enc"); the verifier must never pick it for signatures.
  const encryptionKey = (): JWK[] =>
    keys[0].publicJwk.kty === 'RSA' ? [{ ...keys[0].publicJwk, kid: `${keys[0].kid}-enc`, use: 'enc', alg: 'RSA-OAEP' }] : [];

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = () => `http://127.0.0.1:${port}/realms/${realm}`;
  const jwksUrl = () => `${issuer()}/protocol/openid-connect/certs`;

  const mint = async (claims: Record<string, unknown> = {}, opts: MintOptions = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const known = typeof opts.kid === 'string' ? keys.find((k) => k.kid === opts.kid) : undefined;
    let signingKey: KeyLike | Uint8Array = opts.key ?? (known ?? keys[0]).privateKey;
    const tokenAlg = opts.alg ?? alg;
    if (opts.foreignKey) signingKey = (await generateKeyPair(tokenAlg, { extractable: true })).privateKey;
    const kid = opts.kid === null ? undefined : (opts.kid ?? keys[0].kid);

    const payload: Record<string, unknown> = {
      iss: issuer(),
      aud: audience,
      azp: audience,
      sub: randomUUID(),
      typ: 'Bearer',
      iat: now,
      exp: now + (opts.expiresIn ?? 300),
      jti: randomUUID(),
      ...claims,
    };
    for (const name of ['exp', 'nbf', 'iat', 'iss', 'aud'] as const) {
      const v = opts[name];
      if (v === null) delete payload[name];
      else if (v !== undefined) payload[name] = v;
    }
    return new SignJWT(payload)
      .setProtectedHeader({ typ: 'JWT', ...opts.header, alg: tokenAlg, ...(kid === undefined ? {} : { kid }) })
      .sign(signingKey);
  };

  const principalClaims = (input: PrincipalTokenInput, admin: boolean): Record<string, unknown> => {
    const sub = input.sub ?? randomUUID();
    const realmRoles = ['offline_access', 'uma_authorization', `default-roles-${realm}`, ...(input.realmRoles ?? [])];
    if (admin && !realmRoles.includes(adminRole)) realmRoles.push(adminRole);
    const resourceAccess: Record<string, { roles: string[] }> = { account: { roles: ['manage-account', 'view-profile'] } };
    for (const [client, roles] of Object.entries(input.clientRoles ?? {})) resourceAccess[client] = { roles };
    return {
      sub,
      preferred_username: input.username ?? `user-${sub.slice(0, 8)}`,
      realm_access: { roles: realmRoles },
      resource_access: resourceAccess,
      projects: input.projects ?? [],
      ...input.extra,
    };
  };

  return {
    get issuer() {
      return issuer();
    },
    get jwksUrl() {
      return jwksUrl();
    },
    audience,
    adminRole,
    port,
    get kid() {
      return keys[0].kid;
    },
    get jwksFetches() {
      return fetches;
    },
    oidcConfig(overrides = {}) {
      const { claims, ...rest } = overrides;
      return {
        issuer: issuer(),
        jwksUrl: jwksUrl(),
        audience,
        algorithms: [alg],
        clockToleranceSeconds: 30,
        jwksCooldownMs: 30000,
        ...rest,
        claims: {
          userId: 'sub',
          username: 'preferred_username',
          projects: 'projects',
          adminRole,
          adminRoleSource: 'realm',
          ...claims,
        },
      };
    },
    mint,
    memberToken: (input = {}, opts) => mint(principalClaims(input, false), opts),
    adminToken: (input = {}, opts) => mint(principalClaims(input, true), opts),
    async rotateKey(opts = {}) {
      const k = await newKey();
      keys = opts.dropPrevious ? [k] : [k, ...keys];
      return k.kid;
    },
    publicKeyPem: () => exportSPKI(keys[0].publicKey),
    setMode(m, status) {
      mode = { mode: m, status };
    },
    use(handler) {
      handlers.push(handler);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Builds a compact JWS by hand — for tokens jose refuses to produce (`alg: none`, bad base64, tampered
 * payloads). `signature` defaults to empty.
 */
export function craftToken(header: Record<string, unknown>, payload: Record<string, unknown> | string, signature = ''): string {
  const enc = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

/** Splits a compact token into decoded header and payload (for tampering in tests). */
export function decodeToken(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = token.split('.');
  const dec = (v: string) => JSON.parse(Buffer.from(v, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: dec(h), payload: dec(p), signature: s };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
