import { hash, X509Certificate, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import type { Cache, Coordination } from '../../ports/coordination';

/**
 * Which `Authorization: Bearer` tokens the registry front lets through to Harbor.
 *
 * Harbor reads a bearer token it cannot verify (junk, unsigned, foreign key, expired) as *anonymous*, and anonymous
 * may pull public projects — so a token passed on unchecked is an anonymous pull. hubgate therefore passes on only
 * tokens that Harbor's token service issued *through hubgate's token endpoint*, for a hubgate robot (or anonymously,
 * while anonymous pulls are enabled). Two ways to know that, chosen by configuration:
 *
 * - **signature** (`HARBOR_TOKEN_CERT_FILE` set; recommended): the token's RS256 signature is checked against the
 *   token service's certificate (Harbor's Helm chart: the core secret's `tls.crt`; docker-compose installs:
 *   `common/config/registry/root.crt`), plus issuer, audience, expiry and the subject rule below. Stateless: every
 *   replica accepts every token at once, with or without Redis. A token for a Harbor identity that did not come
 *   through hubgate (Harbor's admin, a Harbor user, a foreign robot) fails the subject rule.
 * - **record** (no certificate configured): hubgate remembers a hash of every token its endpoint handed out until
 *   the token expires — in this process and, while Redis is shared, in Redis, so every replica knows it. A token
 *   hubgate never handed out is refused, whoever signed it. Without Redis a replica only knows its own tokens; a
 *   client sent to another replica gets a 401 challenge and fetches a new token there (what registry clients do
 *   anyway on 401).
 *
 * Subject rule (both ways): `sub` is `<robot prefix><hubgate username prefix>…` (a project's registry login), or
 * empty for an anonymous token while anonymous pulls are enabled. Verdicts are cached per token hash (bounded), so
 * a pull of 50 layers costs one signature check.
 */
export const TOKEN_ISSUER = 'harbor-token-issuer';
export const TOKEN_AUDIENCE = 'harbor-registry';

export type BearerVerdict =
  | { ok: true; subject: string }
  | { ok: false; reason: 'malformed' | 'not_issued' | 'bad_signature' | 'expired' | 'claims' | 'anonymous' | 'foreign_subject' };

export interface RegistryTokensDeps {
  /** PEM text of the token service's certificate(s); when set, tokens are checked by signature. */
  certificatePem?: string;
  robotPrefix: string;
  usernamePrefix: string;
  allowAnonymousPull: boolean;
  /** Shared store of issued-token hashes (record mode), used while `coordination.shared()`. */
  cache?: Cache;
  coordination?: Pick<Coordination, 'shared'>;
  now?: () => number;
  /** Bound on the in-process tables. */
  maxEntries?: number;
  /** Clock skew tolerated on exp/nbf (seconds). */
  clockToleranceSeconds?: number;
}

const KEY_PREFIX = 'registry-token:';
/** One-shot `crypto.hash` (Node ≥ 20.12, the engines floor): no Hash object per request on the registry front. */
const tokenHash = (token: string): string => hash('sha256', token, 'base64url');

/** Public keys of every certificate in a PEM bundle. */
export function certificateKeys(pem: string): KeyObject[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new Error('no PEM certificate found');
  return blocks.map((b) => new X509Certificate(b).publicKey);
}

/** A bounded map of token hash → expiry (ms), oldest insertions dropped first. */
class ExpiringSet {
  private readonly entries = new Map<string, number>();
  constructor(private readonly max: number) {}

  get(key: string, now: number): number | undefined {
    const until = this.entries.get(key);
    if (until === undefined) return undefined;
    if (until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return until;
  }

  set(key: string, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, until);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The token in `Authorization: Bearer <token>` (a JWT's three base64url parts), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^\s*Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

export class RegistryTokens {
  private readonly keys: KeyObject[] | undefined;
  private readonly now: () => number;
  /** Tokens found good (by signature, or in the record), until their expiry. */
  private readonly accepted: ExpiringSet;
  /** Record mode: hashes of the tokens this process handed out. */
  private readonly issuedHere: ExpiringSet;
  private readonly tolerance: number;

  constructor(private readonly deps: RegistryTokensDeps) {
    this.keys = deps.certificatePem ? certificateKeys(deps.certificatePem) : undefined;
    this.now = deps.now ?? Date.now;
    this.accepted = new ExpiringSet(deps.maxEntries ?? 20_000);
    this.issuedHere = new ExpiringSet(deps.maxEntries ?? 20_000);
    this.tolerance = deps.clockToleranceSeconds ?? 30;
  }

  get mode(): 'signature' | 'record' {
    return this.keys ? 'signature' : 'record';
  }

  /** The subject rule: a hubgate robot, or anonymous while anonymous pulls are enabled. */
  private subjectVerdict(sub: unknown): BearerVerdict {
    const s = typeof sub === 'string' ? sub : '';
    if (s === '') return this.deps.allowAnonymousPull ? { ok: true, subject: '' } : { ok: false, reason: 'anonymous' };
    const prefix = this.deps.robotPrefix + this.deps.usernamePrefix;
    if (!s.startsWith(prefix) || s.slice(this.deps.robotPrefix.length).includes('$')) return { ok: false, reason: 'foreign_subject' };
    return { ok: true, subject: s };
  }

  /** Expiry (ms) of a token's `exp` claim, or undefined when unreadable. */
  private expiry(token: string): { exp: number; sub: unknown } | undefined {
    try {
      const claims = decodeJwt(token);
      if (typeof claims.exp === 'number') return { exp: claims.exp * 1000, sub: claims.sub };
    } catch {
      // not a JWT: no expiry
    }
    return undefined;
  }

  /** Record mode: the token endpoint handed `token` out (no-op in signature mode). */
  async issued(token: string | undefined): Promise<void> {
    if (this.keys || !token) return;
    const claims = this.expiry(token);
    if (!claims) return;
    const now = this.now();
    if (claims.exp <= now) return;
    const key = tokenHash(token);
    this.issuedHere.set(key, claims.exp);
    if (this.deps.cache && this.deps.coordination?.shared()) {
      try {
        await this.deps.cache.set(KEY_PREFIX + key, 1, Math.ceil((claims.exp - now) / 1000));
      } catch {
        /* degraded: this replica still knows the token */
      }
    }
  }

  /** Subjects of accepted tokens, by token hash (same keys and lifetime as `accepted`). */
  private readonly subjects = new Map<string, string>();

  /**
   * The common case without a promise: the same token on every request of a pull costs one hash and a map look-up.
   * `undefined` when the token is not (or no longer) among the accepted ones: ask `check`.
   */
  checkAccepted(token: string): BearerVerdict | undefined {
    const key = tokenHash(token);
    if (this.accepted.get(key, this.now()) === undefined) return undefined;
    const subject = this.subjects.get(key);
    return subject === undefined ? undefined : { ok: true, subject };
  }

  /** Whether a bearer token may be passed on to Harbor. */
  async check(token: string): Promise<BearerVerdict> {
    const now = this.now();
    const key = tokenHash(token);
    if (this.accepted.get(key, now) !== undefined) {
      const subject = this.subjects.get(key);
      if (subject !== undefined) return { ok: true, subject };
    }
    const claims = this.expiry(token);
    if (!claims) return { ok: false, reason: 'malformed' };
    if (claims.exp + this.tolerance * 1000 <= now) return { ok: false, reason: 'expired' };
    const verdict = this.keys ? await this.verifySignature(token) : await this.findRecord(key, now);
    if (!verdict.ok) return verdict;
    const subject = this.subjectVerdict(claims.sub);
    if (subject.ok) {
      this.accepted.set(key, claims.exp + this.tolerance * 1000);
      this.subjects.set(key, subject.subject);
      // Bounded like `accepted`: drop subjects whose token left it.
      if (this.subjects.size > this.accepted.size * 2 + 64) for (const k of this.subjects.keys()) if (this.accepted.get(k, now) === undefined) this.subjects.delete(k);
    }
    return subject;
  }

  private async verifySignature(token: string): Promise<BearerVerdict> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    // Harbor's token service signs with RS256 (its key is RSA); nothing else is accepted, `none` least of all.
    // Stryker disable next-line ConditionalExpression: equivalent, jwtVerify's algorithms list refuses the same tokens with the same verdict
    if (alg !== 'RS256') return { ok: false, reason: 'bad_signature' };
    for (const key of this.keys!) {
      try {
        await jwtVerify(token, key, {
          algorithms: ['RS256'],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          clockTolerance: this.tolerance,
          currentDate: new Date(this.now()),
        });
        // Stryker disable next-line StringLiteral: equivalent, check() takes the subject from the subject rule, not from this verdict
        return { ok: true, subject: '' };
      } catch (e) {
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        // Stryker disable next-line ConditionalExpression: equivalent, check() already refused tokens past exp + tolerance, the same test jose makes
        if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
        if (e instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: 'claims' };
        return { ok: false, reason: 'bad_signature' };
      }
    }
    return { ok: false, reason: 'bad_signature' };
  }

  private async findRecord(key: string, now: number): Promise<BearerVerdict> {
    // Stryker disable next-line StringLiteral: equivalent, check() takes the subject from the subject rule, not from this verdict
    if (this.issuedHere.get(key, now) !== undefined) return { ok: true, subject: '' };
    if (this.deps.cache && this.deps.coordination?.shared()) {
      try {
        // Stryker disable next-line StringLiteral: equivalent, check() takes the subject from the subject rule, not from this verdict
        if ((await this.deps.cache.get<number>(KEY_PREFIX + key)) !== undefined) return { ok: true, subject: '' };
      } catch {
        /* degraded: only this replica's record counts */
      }
    }
    return { ok: false, reason: 'not_issued' };
  }
}
