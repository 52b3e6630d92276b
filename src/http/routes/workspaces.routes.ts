import { Router } from 'express';
import type { AccessLevel, ListFilter, WorkspacesService } from '../../domain/workspaces.service';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate, validQuery } from '../validate';

const GC_NOTE = 'Storage is returned after the next garbage collection (Harbor keeps blobs touched in the last 2 hours by default).';

export function workspacesRoutes(workspaces: WorkspacesService): Router {
  const r = Router();

  r.get('/workspaces', op('workspaces_list'), validate({ query: 'WorkspaceListQuery' }), async (req, res) => {
    const q = validQuery<Omit<ListFilter, 'pageSize'> & { page_size: number }>(req);
    const page = await workspaces.list(principalOf(req), { ...q, pageSize: q.page_size });
    res.setHeader('X-Total-Count', String(page.total));
    res.json(page);
  });

  r.post('/workspaces', op('workspaces_create'), validate({ body: 'WorkspaceCreate' }), async (req, res) => {
    const body = req.body as { name: string; projectId: string; projectName?: string; department?: string; access: AccessLevel };
    const ws = await workspaces.create(principalOf(req), body);
    res.status(201).location(`${req.baseUrl}/workspaces/${ws.name}`).json(ws);
  });

  r.get('/workspaces/:name', op('workspaces_get'), async (req, res) => {
    res.json(await workspaces.get(principalOf(req), req.params.name as string));
  });

  r.patch('/workspaces/:name', op('workspaces_update'), validate({ body: 'WorkspaceUpdate' }), async (req, res) => {
    res.json(await workspaces.setAccess(principalOf(req), req.params.name as string, (req.body as { access: AccessLevel }).access));
  });

  r.delete('/workspaces/:name', op('workspaces_delete'), async (req, res) => {
    const name = req.params.name as string;
    const result = await workspaces.delete(principalOf(req), name);
    res.json({ name, deletedImages: result.deletedImages, note: GC_NOTE });
  });

  return r;
}
