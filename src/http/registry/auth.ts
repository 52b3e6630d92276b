import { createHash } from 'node:crypto';
import type http from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * Registry logins: parsing client credentials, the short-lived cache of verified logins, and the translation
 * of a hubgate username (`hg-<project>`) to the Harbor robot that holds its permissions (`robot$hg-<project>`).
 */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** Parses `Authorization: Basic …`; undefined when absent, another scheme, or malformed. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const m = /^\s*Basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export const basicHeader = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;

export type AuthScheme = 'none' | 'basic' | 'bearer' | 'other';

export function authScheme(header: string | undefined): AuthScheme {
  if (!header || header.trim() === '') return 'none';
  if (/^\s*Basic\s/i.test(header)) return 'basic';
  if (/^\s*Bearer\s/i.test(header)) return 'bearer';
  return 'other';
}

/**
 * Successful verifications, kept briefly so a pull of 50 layers does not cost 50 Harbor look-ups. Keyed by a
 * hash of username and password, so a changed password is a different key (a rotated-away password is never
 * "still cached" as the new one, and the old entry expires within the TTL). Entries are also dropped as soon as
 * Harbor refuses the credentials they vouched for (`forget`). Nothing secret is stored: only the hash.
 */
export class VerifiedLogins {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  static key(c: BasicCredentials): string {
    return createHash('sha256').update(c.username).update('\0').update(c.password).digest('base64url');
  }

  has(c: BasicCredentials): boolean {
    // With ttl <= 0 (cache off) remember() stores nothing, so nothing is found here either.
    const k = VerifiedLogins.key(c);
    const until = this.entries.get(k);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.entries.delete(k);
      return false;
    }
    return true;
  }

  remember(c: BasicCredentials): void {
    if (this.ttlMs <= 0) return;
    const k = VerifiedLogins.key(c);
    this.entries.delete(k);
    this.entries.set(k, this.now() + this.ttlMs);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  forget(c: BasicCredentials): void {
    this.entries.delete(VerifiedLogins.key(c));
  }
}

/** Decodes a JWT's payload without verifying it (Harbor signed it; we only read `sub` of Harbor's answer). */
export function jwtSubject(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let claims: { sub?: unknown } | null | undefined;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as typeof claims;
  } catch {
    // Not JSON: no subject.
  }
  return typeof claims?.sub === 'string' ? claims.sub : undefined;
}

/** Which hops may report the client's address (`X-Forwarded-For`): proxy-addr's compiled trust function. */
export type TrustProxy = (address: string, hop: number) => boolean;

/** Trusts no proxy: the client address is the socket's peer. */
export const TRUST_NONE: TrustProxy = () => false;

/** Compiles HUBGATE_TRUSTED_PROXIES (addresses, CIDRs, loopback/linklocal/uniquelocal); empty trusts nobody. */
export function compileTrust(list: readonly string[]): TrustProxy {
  return list.length ? proxyaddr.compile([...list]) : TRUST_NONE;
}

/**
 * The client address a login is throttled by: proxy-addr over `X-Forwarded-For`, walking from the socket's peer
 * leftwards only through trusted proxies — what Express's `req.ip` computes with the same trust setting. A client
 * that is not behind a trusted proxy cannot choose its address by sending the header. Undefined only when the
 * socket is gone.
 */
export function clientAddress(req: http.IncomingMessage, trust: TrustProxy = TRUST_NONE): string | undefined {
  if (!req.socket.remoteAddress) return undefined;
  return proxyaddr(req, trust);
}
