import { Router, type Request } from 'express';
import type { CredentialsService, ProjectCredentials } from '../../domain/credentials.service';
import { notFound } from '../../domain/errors';
import type { PlatformProject } from '../../domain/principal';
import { registryInstructions } from '../../domain/registry-instructions';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';

/** A project member (or a cloud admin) may see and rotate the project's credentials; others get 404. */
function projectFor(req: Request): PlatformProject {
  const p = principalOf(req);
  const id = req.params.projectId as string;
  const joined = p.projects.find((x) => x.id === id);
  if (joined) return joined;
  if (p.isCloudAdmin) return { id, name: '', department: '' };
  throw notFound(`project "${id}"`);
}

export function credentialsRoutes(credentials: CredentialsService, opts: { registryHost: string; insecure: boolean; plainHttp: boolean }): Router {
  const r = Router();
  const present = (c: ProjectCredentials) => ({
    registry: opts.registryHost,
    username: c.username,
    password: c.password,
    workspaces: c.workspaces,
    ...registryInstructions({
      registry: opts.registryHost,
      username: c.username,
      password: c.password,
      workspace: c.workspaces[0] ?? 'WORKSPACE',
      insecure: opts.insecure,
      plainHttp: opts.plainHttp,
    }),
  });

  r.get('/projects/:projectId/credentials', op('credentials_get'), async (req, res) => {
    const c = await credentials.get(projectFor(req));
    res.setHeader('Cache-Control', 'no-store');
    res.json(present(c));
  });

  r.post('/projects/:projectId/credentials/rotate', op('credentials_rotate'), async (req, res) => {
    const c = await credentials.rotate(projectFor(req));
    res.setHeader('Cache-Control', 'no-store');
    res.json(present(c));
  });

  return r;
}
