import type { Agent } from 'node:http';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../../src/config';
import { AppError } from '../../src/domain/errors';
import type { Principal } from '../../src/domain/principal';
import { silentLogger, type Logger } from '../../src/observability/logger';
import type { TokenVerifier } from '../../src/ports/identity';
import { mapClaims } from './claims.mapper';

export { mapClaims, readClaim, type ClaimsConfig, type TokenPayload } from './claims.mapper';

/**
 * Verifies Keycloak access tokens the standard OIDC way (keycloak-connect is deprecated): a JWS signature
 * checked against the realm's JWKS, then `iss`, `aud`, `exp`/`nbf`, then the claims are mapped to a Principal.
 *
 * - Keys: `createRemoteJWKSet` caches the realm's keys; a token whose `kid` is unknown triggers one refetch,
 *   at most once per `jwksCooldownMs` (so a flood of made-up kids cannot hammer Keycloak). Rotation in
 *   Keycloak (new active key) is therefore picked up on the first token signed with it.
 * - Algorithms: only `algorithms` (asymmetric, validated by config). `none`, HS* (incl. the "HS256 signed with
 *   the public key" confusion) and anything else are refused before any key is looked up.
 * - Audience: the token's `aud` (string or array) must contain `audience`. Keycloak only puts a client there
 *   when an "Audience" protocol mapper is configured for it; `azp` (the client the token was issued to) alone
 *   is not accepted — a token issued to some other client of the realm must not be usable here.
 * - Token type: Keycloak sets `typ: "Bearer"` in access tokens and `typ: "ID"` in ID tokens; a token with a
 *   `typ` claim other than Bearer is refused ("wrong token type"), so an ID token whose aud is our client
 *   cannot be used as an access token. Tokens without `typ` are accepted.
 * - Failures are AppError('unauthorized') with a short fixed reason ("token expired", "wrong issuer",
 *   "wrong audience", "unknown signing key", "invalid signature", "algorithm not allowed", "malformed token",
 *   "token not yet valid", "wrong token type", "missing claim <name>"). Neither the token nor its claims ever
 *   appear in a message or a log line.
 * - JWKS unreachable (refused, timeout, non-200, not a key set) when keys are needed → AppError
 *   'upstream_unavailable' (502 UPSTREAM_UNAVAILABLE), not 401: the token may well be valid, the client should
 *   retry rather than re-authenticate. Cached keys keep working while the endpoint is down (up to 10 minutes
 *   after the last successful fetch, jose's cacheMaxAge).
 */
export type OidcConfig = Config['oidc'];

export interface OidcVerifierOptions extends OidcConfig {
  logger?: Logger;
  /** Timeout of one JWKS request (default 3000 ms). */
  jwksTimeoutMs?: number;
  /**
   * HTTP(S) agent for the JWKS request (proxy, private CA). jose's Node build fetches with `http.get`, so an
   * agent — not a fetch implementation — is the injection point.
   */
  jwksAgent?: Agent;
}

/** Tokens longer than this are refused before parsing (Keycloak tokens with many groups stay well below). */
export const MAX_TOKEN_LENGTH = 64 * 1024;

const unauthorized = (reason: string): AppError => new AppError('unauthorized', reason);

/** Thrown by the key resolver when the JWKS could not be obtained; translated to upstream_unavailable (never shown). */
class KeysUnavailable extends Error {
  constructor(cause: unknown) {
    super(undefined, { cause });
  }
}

export function createOidcVerifier(opts: OidcVerifierOptions): TokenVerifier {
  const log = opts.logger ?? silentLogger;
  const remote = createRemoteJWKSet(new URL(opts.jwksUrl), {
    cooldownDuration: opts.jwksCooldownMs,
    timeoutDuration: opts.jwksTimeoutMs ?? 3000,
    ...(opts.jwksAgent ? { agent: opts.jwksAgent } : {}),
  });
  // Separates "we could not get the keys" from "no key matches this token".
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (e) {
      if (
        e instanceof errors.JWKSNoMatchingKey ||
        e instanceof errors.JWKSMultipleMatchingKeys ||
        e instanceof errors.JOSENotSupported ||
        e instanceof errors.JWKInvalid
      ) {
        throw e;
      }
      throw new KeysUnavailable(e);
    }
  };
  const algorithms = [...opts.algorithms];

  return {
    async verify(token: string): Promise<Principal> {
      // bounded before any parsing; an empty token or one without three parts jose refuses as malformed itself
      if (token.length > MAX_TOKEN_LENGTH) throw unauthorized('malformed token');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms,
          clockTolerance: opts.clockToleranceSeconds,
          requiredClaims: ['exp'],
        }));
      } catch (e) {
        if (e instanceof KeysUnavailable) {
          log.warn('identity provider keys unavailable', { reason: describeCause(e.cause) });
          throw new AppError('upstream_unavailable', 'identity provider unavailable', { cause: e.cause });
        }
        throw unauthorized(reasonFor(e));
      }
      if (typeof payload.typ === 'string' && payload.typ.toLowerCase() !== 'bearer') {
        throw unauthorized('wrong token type');
      }
      return mapClaims(payload as Record<string, unknown>, opts.claims, log);
    },
  };
}

/** A fixed, short reason for a verification failure (never derived from the token's content). */
function reasonFor(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'token expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.reason === 'missing' && ['exp', 'iss', 'aud'].includes(e.claim)) return `missing claim ${e.claim}`;
    switch (e.claim) {
      case 'iss':
        return 'wrong issuer';
      case 'aud':
        return 'wrong audience';
      case 'nbf':
        return 'token not yet valid';
    }
    // any other claim (iat not a number, ...): a malformed token, like everything unrecognised below
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return 'algorithm not allowed';
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys || e instanceof errors.JWKInvalid) {
    return 'unknown signing key';
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'invalid signature';
  return 'malformed token';
}

/** Why the keys could not be had, for the warning (exported for its test). */
export function describeCause(e: unknown): string {
  if (e instanceof errors.JWKSTimeout) return 'timeout';
  if (e instanceof errors.JWKSInvalid) return 'not a key set';
  // Duck-typed: errors from Node internals may come from another realm (e.g. under jest), failing instanceof.
  const { code, message } = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && !code.startsWith('ERR_JOSE')) return code;
  return typeof message === 'string' ? message : 'unknown';
}
