import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../../domain/errors';
import type { Principal } from '../../domain/principal';
import type { TokenVerifier } from '../../ports/identity';
import { currentContext } from '../../observability/context';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Bearer token from Keycloak → req.principal; missing or invalid → 401 with a Bearer challenge. */
export function authenticate(verifier: TokenVerifier): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.header('authorization');
    const m = header && /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return next(new AppError('unauthorized', 'a bearer token is required'));
    }
    try {
      req.principal = await verifier.verify(m[1]);
    } catch (e) {
      if (e instanceof AppError && e.kind === 'unauthorized') res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      return next(e);
    }
    const ctx = currentContext();
    if (ctx) ctx.user = req.principal.userId;
    next();
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new AppError('unauthorized', 'a bearer token is required');
  return req.principal;
}
