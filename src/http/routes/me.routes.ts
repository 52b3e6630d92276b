import { Router } from 'express';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';

/**
 * `GET /me` — who the bearer token says the caller is, as hubgate's claim mapping reads it (OIDC_CLAIM_*):
 * the console shows projects and admin actions from this, never from its own reading of the token.
 */
export function meRoutes(opts: { gcAllowMembers: boolean }): Router {
  const r = Router();
  r.get('/me', op('me_get'), (req, res) => {
    const p = principalOf(req);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      userId: p.userId,
      username: p.username,
      cloudAdmin: p.isCloudAdmin,
      projects: p.projects,
      mayRunGc: p.isCloudAdmin || (opts.gcAllowMembers && p.projects.length > 0),
    });
  });
  return r;
}
