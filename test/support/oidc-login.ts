/**
 * The sandbox's sign-in: the OIDC authorization code flow with PKCE (S256) on top of the local realm of
 * tokens.ts, shaped like Keycloak's endpoints so that the console signs in here exactly as at a real realm.
 *
 *   GET  <issuer>/.well-known/openid-configuration   discovery (with CORS)
 *   GET  <issuer>/protocol/openid-connect/auth       a sign-in page listing the ready users (no scripts)
 *   POST <issuer>/protocol/openid-connect/auth       the chosen user → 302 to redirect_uri?code&state
 *   POST <issuer>/protocol/openid-connect/token      authorization_code (PKCE verified) and refresh_token grants
 *   GET  <issuer>/protocol/openid-connect/logout     ends the user's refresh tokens, back to post_logout_redirect_uri
 *
 * Only public clients with PKCE S256 are accepted (Keycloak's recommended setting for single-page apps); codes
 * are single-use and live 60 s; refresh tokens rotate on use. There are no passwords: this is a sandbox.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PlatformProject } from '../../src/domain/principal';
import type { TestIdp } from './tokens';

export interface ReadyUser {
  username: string;
  sub: string;
  /** Shown on the sign-in page. */
  description: string;
  projects: PlatformProject[];
  admin?: boolean;
}

export interface CodeFlowOptions {
  /** Public client id (the console's), also the access tokens' audience. */
  clientId: string;
  /** Redirect URIs are accepted when they start with one of these (e.g. `http://127.0.0.1:8080/console/`). */
  redirectPrefixes: string[];
  users: ReadyUser[];
  /** Access token lifetime, seconds (default 300). */
  accessTokenSeconds?: number;
}

export interface CodeFlow {
  readonly users: ReadyUser[];
  /** Token endpoint calls by grant type (what the browser test checks its silent refresh with). */
  readonly grants: { authorization_code: number; refresh_token: number };
  addRedirectPrefix(prefix: string): void;
}

interface PendingCode {
  user: ReadyUser;
  redirectUri: string;
  challenge: string;
  nonce?: string;
  expires: number;
}

const b64url = (b: Buffer) => b.toString('base64url');

export function enableCodeFlow(idp: TestIdp, opts: CodeFlowOptions): CodeFlow {
  const base = new URL(idp.issuer).pathname;
  const oidc = `${base}/protocol/openid-connect`;
  const codes = new Map<string, PendingCode>();
  const refreshTokens = new Map<string, ReadyUser>();
  const grants = { authorization_code: 0, refresh_token: 0 };
  const prefixes = [...opts.redirectPrefixes];
  const ttl = opts.accessTokenSeconds ?? 300;

  const allowedRedirect = (uri: string | null): uri is string => !!uri && prefixes.some((p) => uri.startsWith(p)) && !uri.includes('#');
  const cors = (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && prefixes.some((p) => p.startsWith(`${origin}/`))) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
    }
  };

  const issueTokens = async (user: ReadyUser, nonce?: string) => {
    const input = { sub: user.sub, username: user.username, projects: user.projects };
    const access = user.admin ? await idp.adminToken(input, { expiresIn: ttl }) : await idp.memberToken(input, { expiresIn: ttl });
    const idToken = await idp.mint(
      { sub: user.sub, preferred_username: user.username, typ: 'ID', aud: opts.clientId, ...(nonce ? { nonce } : {}) },
      { expiresIn: ttl },
    );
    const refresh = b64url(randomBytes(32));
    refreshTokens.set(refresh, user);
    return { access_token: access, id_token: idToken, refresh_token: refresh, token_type: 'Bearer', expires_in: ttl, refresh_expires_in: 1800, scope: 'openid profile' };
  };

  const signInPage = (q: URLSearchParams): string => {
    const hidden = ['client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'nonce']
      .map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k) ?? '')}">`)
      .join('');
    const buttons = opts.users
      .map(
        (u) =>
          `<li><button type="submit" name="username" value="${esc(u.username)}" id="user-${esc(u.username)}">${esc(u.username)}</button> <span>${esc(u.description)}</span></li>`,
      )
      .join('\n');
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in — hubgate sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>hubgate sandbox — sign in</h1><p>Choose a ready user (the sandbox has no passwords).</p>
<form method="post" action="${esc(oidc)}/auth">${hidden}<ul>${buttons}</ul></form></main></body></html>`;
  };

  const handler = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    const url = new URL(req.url ?? '/', idp.issuer);
    if (path === `${base}/.well-known/openid-configuration` && req.method === 'GET') {
      cors(req, res);
      send(res, 200, {
        issuer: idp.issuer,
        authorization_endpoint: `${idp.issuer}/protocol/openid-connect/auth`,
        token_endpoint: `${idp.issuer}/protocol/openid-connect/token`,
        end_session_endpoint: `${idp.issuer}/protocol/openid-connect/logout`,
        jwks_uri: idp.jwksUrl,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
      return true;
    }
    if (path === `${oidc}/auth` && req.method === 'GET') {
      const q = url.searchParams;
      const problem =
        q.get('response_type') !== 'code'
          ? 'response_type must be code'
          : q.get('client_id') !== opts.clientId
            ? 'unknown client_id'
            : !allowedRedirect(q.get('redirect_uri'))
              ? 'redirect_uri is not registered for this client'
              : q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? '')
                ? 'PKCE with code_challenge_method=S256 is required'
                : '';
      if (problem) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`invalid_request: ${problem}`);
        return true;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "default-src 'none'; form-action *; base-uri 'none'; frame-ancestors 'none'",
        'cache-control': 'no-store',
      });
      res.end(signInPage(q));
      return true;
    }
    if (path === `${oidc}/auth` && req.method === 'POST') {
      void readForm(req).then((f) => {
        const user = opts.users.find((u) => u.username === f.get('username'));
        const redirectUri = f.get('redirect_uri');
        if (!user || f.get('client_id') !== opts.clientId || !allowedRedirect(redirectUri) || f.get('code_challenge_method') !== 'S256') {
          res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('invalid_request');
          return;
        }
        const code = b64url(randomBytes(24));
        codes.set(code, { user, redirectUri, challenge: f.get('code_challenge') ?? '', nonce: f.get('nonce') || undefined, expires: Date.now() + 60_000 });
        const to = new URL(redirectUri);
        to.searchParams.set('code', code);
        if (f.get('state')) to.searchParams.set('state', f.get('state')!);
        res.writeHead(302, { location: to.toString(), 'cache-control': 'no-store' }).end();
      });
      return true;
    }
    if (path === `${oidc}/token` && req.method === 'OPTIONS') {
      cors(req, res);
      res.writeHead(204).end();
      return true;
    }
    if (path === `${oidc}/token` && req.method === 'POST') {
      cors(req, res);
      void readForm(req).then(async (f) => {
        const fail = (error: string, description: string) => send(res, 400, { error, error_description: description });
        if (f.get('client_id') !== opts.clientId) return fail('unauthorized_client', 'unknown client_id');
        if (f.get('grant_type') === 'authorization_code') {
          const code = f.get('code') ?? '';
          const pending = codes.get(code);
          codes.delete(code); // single use, whatever happens next
          if (!pending || pending.expires < Date.now()) return fail('invalid_grant', 'code not valid');
          if (f.get('redirect_uri') !== pending.redirectUri) return fail('invalid_grant', 'redirect_uri differs');
          const verifier = f.get('code_verifier') ?? '';
          if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || b64url(createHash('sha256').update(verifier).digest()) !== pending.challenge) {
            return fail('invalid_grant', 'PKCE verification failed');
          }
          grants.authorization_code += 1;
          return send(res, 200, await issueTokens(pending.user, pending.nonce));
        }
        if (f.get('grant_type') === 'refresh_token') {
          const token = f.get('refresh_token') ?? '';
          const user = refreshTokens.get(token);
          refreshTokens.delete(token); // rotation
          if (!user) return fail('invalid_grant', 'refresh token not valid');
          grants.refresh_token += 1;
          return send(res, 200, await issueTokens(user));
        }
        return fail('unsupported_grant_type', 'authorization_code or refresh_token');
      });
      return true;
    }
    if (path === `${oidc}/logout` && req.method === 'GET') {
      const hint = url.searchParams.get('refresh_token');
      if (hint) refreshTokens.delete(hint);
      const back = url.searchParams.get('post_logout_redirect_uri');
      if (allowedRedirect(back)) res.writeHead(302, { location: back }).end();
      else res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('signed out');
      return true;
    }
    return false;
  };
  idp.use(handler);
  return {
    users: opts.users,
    grants,
    addRedirectPrefix: (p) => void prefixes.push(p),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) break;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The sandbox's ready users: two projects in two departments, and a cloud admin. */
export const SANDBOX_USERS: ReadyUser[] = [
  { username: 'alice', sub: 'u-alice', description: 'member of project "demo" (department default)', projects: [{ id: 'demo', name: 'Demo project', department: 'default' }] },
  { username: 'bob', sub: 'u-bob', description: 'member of project "research" (department lab)', projects: [{ id: 'research', name: 'Research', department: 'lab' }] },
  { username: 'admin', sub: 'u-admin', description: 'cloud admin, member of project "admin" (department Default)', projects: [{ id: 'admin', name: 'admin', department: 'Default' }], admin: true },
];
