/** RS256 JWTs shaped like Harbor's registry tokens (header alg/kid/typ; claims aud, exp, jti, iat, iss, nbf, sub?, access). */
import { createSign, createVerify, randomBytes } from 'crypto';
import { SigningMaterial } from './keys';

export const TOKEN_SERVICE = 'harbor-registry';
export const TOKEN_ISSUER = 'harbor-token-issuer';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  aud: string;
  exp: number;
  jti: string;
  iat: number;
  iss: string;
  nbf: number;
  sub?: string;
  access: AccessEntry[] | null;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function jti(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(16);
  return Array.from(bytes, (x) => alphabet[x % alphabet.length]).join('');
}

export function signToken(
  key: SigningMaterial,
  sub: string | undefined,
  access: AccessEntry[] | null,
  lifetimeSeconds: number,
  now = Math.floor(Date.now() / 1000),
): { token: string; claims: TokenClaims } {
  const header = { alg: 'RS256', kid: key.kid, typ: 'JWT' };
  const claims: TokenClaims = {
    aud: TOKEN_SERVICE,
    exp: now + lifetimeSeconds,
    jti: jti(),
    iat: now,
    iss: TOKEN_ISSUER,
    nbf: now,
    ...(sub !== undefined ? { sub } : {}),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(key.privateKey);
  return { token: `${input}.${b64url(sig)}`, claims };
}

/** Verifies signature, issuer, audience and time; returns the claims or null. */
export function verifyToken(key: SigningMaterial, token: string): TokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const ok = createVerify('RSA-SHA256').update(`${parts[0]}.${parts[1]}`).verify(key.publicKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return null;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims;
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== TOKEN_ISSUER || claims.aud !== TOKEN_SERVICE) return null;
    if (typeof claims.exp !== 'number' || claims.exp < now - 60) return null;
    if (typeof claims.nbf === 'number' && claims.nbf > now + 60) return null;
    return claims;
  } catch {
    return null;
  }
}
