/**
 * Sign-in with the platform's Keycloak realm: OIDC authorization code flow with PKCE (S256). Tokens live in
 * memory only (never in storage); the PKCE verifier and state sit in sessionStorage for the one round trip to
 * the issuer. The access token is refreshed silently (refresh_token grant) before it expires.
 */
export interface ConsoleConfig {
  issuer: string;
  clientId: string;
  scope: string;
  apiBase: string;
  version: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in: number;
}

interface Pending {
  verifier: string;
  state: string;
  nonce: string;
  returnTo: string;
}

const PENDING_KEY = 'hubgate.console.pkce';

let config: ConsoleConfig;
let discovery: Discovery;
let access: string | null = null;
let refreshToken: string | null = null;
let idToken: string | null = null;
let expiresAt = 0;
let lifetimeMs = 0;
let timer: number | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

export const redirectUri = (): string => `${location.origin}/console/`;

const b64url = (bytes: ArrayBuffer | Uint8Array): string => {
  const a = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const b of a) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const random = (n = 32): string => b64url(crypto.getRandomValues(new Uint8Array(n)));

export function onAuthChange(fn: (signedIn: boolean) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
const emit = () => listeners.forEach((fn) => fn(access !== null));

/** Loads the configuration and the issuer's discovery document; finishes a sign-in when the URL carries a code. */
export async function initAuth(): Promise<{ config: ConsoleConfig; error?: string }> {
  config = (await (await fetch('config.json', { cache: 'no-cache' })).json()) as ConsoleConfig;
  const d = await fetch(`${config.issuer}/.well-known/openid-configuration`);
  if (!d.ok) throw new Error(`the sign-in service answered ${d.status}`);
  discovery = (await d.json()) as Discovery;
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const err = params.get('error');
  if (!code && !err) return { config };
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as Pending) : null;
  history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? ''}`);
  if (err) return { config, error: params.get('error_description') ?? err };
  if (!pending || pending.state !== params.get('state')) return { config, error: 'sign-in state mismatch' };
  const ok = await tokenRequest({
    grant_type: 'authorization_code',
    code: code ?? '',
    redirect_uri: redirectUri(),
    client_id: config.clientId,
    code_verifier: pending.verifier,
  });
  return ok ? { config } : { config, error: 'sign-in failed' };
}

export async function signIn(): Promise<void> {
  const verifier = random(48);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const pending: Pending = { verifier, state: random(16), nonce: random(16), returnTo: location.hash };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

export function signOut(): void {
  const hint = idToken;
  clear();
  if (discovery?.end_session_endpoint) {
    const url = new URL(discovery.end_session_endpoint);
    url.search = new URLSearchParams({ client_id: config.clientId, post_logout_redirect_uri: redirectUri(), ...(hint ? { id_token_hint: hint } : {}) }).toString();
    location.assign(url.toString());
  }
}

function clear(): void {
  access = refreshToken = idToken = null;
  expiresAt = 0;
  window.clearTimeout(timer);
  emit();
}

async function tokenRequest(body: Record<string, string>): Promise<boolean> {
  try {
    const res = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body).toString(),
    });
    if (!res.ok) return false;
    const t = (await res.json()) as TokenResponse;
    access = t.access_token;
    refreshToken = t.refresh_token ?? refreshToken;
    idToken = t.id_token ?? idToken;
    lifetimeMs = t.expires_in * 1000;
    expiresAt = Date.now() + lifetimeMs;
    window.clearTimeout(timer);
    // silent refresh at three quarters of the lifetime
    timer = window.setTimeout(() => void refresh(), Math.max(1000, t.expires_in * 750));
    emit();
    return true;
  } catch {
    return false;
  }
}

/** Refreshes the tokens (one at a time); false (and signed out) when the session is gone. */
export function refresh(): Promise<boolean> {
  if (!refreshToken) return Promise.resolve(false);
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: config.clientId }).then((ok) => {
    refreshing = null;
    if (!ok) clear();
    return ok;
  });
  return refreshing;
}

/** The access token for an API call, refreshed first when it is about to expire. */
export async function accessToken(): Promise<string | null> {
  if (access && Date.now() > expiresAt - Math.min(10_000, lifetimeMs / 4)) await refresh();
  return access;
}

export const signedIn = (): boolean => access !== null;
