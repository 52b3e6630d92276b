/**
 * The web console at /console: static files built by `npm run build` (web/ → dist/console/, scripts/build-console.mjs)
 * served with a strict Content-Security-Policy (scripts and styles from this origin only, no inline code; the
 * only other origin is the OIDC issuer, for the token endpoint), hashed asset names cached for a year, and the
 * page itself never cached. `GET /console/config.json` tells the page where to sign in. Everything the console
 * does goes through the public /api/v1 with the user's bearer token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import express, { Router, type Response } from 'express';
import { op } from './middleware/observe';
import type { Logger } from '../observability/logger';

export interface ConsoleOptions {
  /** Folder with index.html and assets/ (default: the build next to the code). */
  dir?: string;
  oidcIssuer: string;
  clientId: string;
  scope: string;
  version: string;
  logger: Logger;
}

/** Where `npm run build` puts the console, seen from dist/src/http (built) or src/http (ts-node, tests). */
export function defaultConsoleDir(): string | undefined {
  const candidates = [resolve(__dirname, '../../console'), resolve(__dirname, '../../dist/console')];
  return candidates.find((d) => existsSync(resolve(d, 'index.html')));
}

export function consoleCsp(issuer: string): string {
  const idp = new URL(issuer).origin;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${idp}`,
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "manifest-src 'self'",
  ].join('; ');
}

export function consoleRouter(opts: ConsoleOptions): Router {
  const r = Router();
  const dir = opts.dir ?? defaultConsoleDir();
  const csp = consoleCsp(opts.oidcIssuer);
  const secure = (res: Response) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  };
  const config = { issuer: opts.oidcIssuer, clientId: opts.clientId, scope: opts.scope, apiBase: 'api/v1', version: opts.version };

  r.get('/config.json', op('console_config'), (_req, res) => {
    secure(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.json(config);
  });

  const indexFile = dir ? resolve(dir, 'index.html') : undefined;
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent for `!dir || !indexFile` → false / `!dir && !indexFile` (indexFile is undefined exactly when dir is, and existsSync(undefined) is false); the whole condition's true/false/&& mutants and `!dir`/`!indexFile` → `dir`/`indexFile` are killed by test/unit/http/console.test.ts, applied by hand
  if (!dir || !indexFile || !existsSync(indexFile)) {
    opts.logger.warn('console enabled but not built: run npm run build (or set HUBGATE_CONSOLE_DIR, or HUBGATE_CONSOLE_ENABLED=false)', { dir: dir ?? null });
    r.use(op('console'), (_req, res) => {
      secure(res);
      res.status(503).json({ errors: [{ code: 'SERVICE_UNAVAILABLE', message: 'the console is not built on this server: run npm run build' }] });
    });
    return r;
  }
  const index = readFileSync(indexFile);

  r.use(
    '/assets',
    op('console_asset'),
    (_req, res, next) => {
      secure(res);
      next();
    },
    express.static(resolve(dir, 'assets'), {
      immutable: true,
      maxAge: '365d',
      index: false,
      dotfiles: 'deny',
    }),
  );
  // The page: / and every client-side route below it (the router uses the URL hash; paths are for safety).
  r.get(/^\/(?!assets\/)[^.]*$/, op('console_page'), (req, res) => {
    if (req.originalUrl === '/console') return res.redirect(301, '/console/');
    secure(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(index);
  });
  return r;
}
