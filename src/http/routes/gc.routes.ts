import { Router } from 'express';
import { notFound } from '../../domain/errors';
import type { GcService } from '../../domain/gc.service';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate, validQuery } from '../validate';

const runId = (raw: unknown): number => {
  const s = String(raw);
  if (!/^\d{1,15}$/.test(s)) throw notFound(`garbage collection ${s}`);
  return Number(s);
};

export function gcRoutes(gc: GcService): Router {
  const r = Router();

  const startBody = validate({ body: 'GcStart' });
  r.post(
    '/gc',
    op('gc_start'),
    (req, res, next) => {
      // `POST /gc` without a body starts a normal run (the JSON parser leaves req.body unset without one, too).
      const noBody = !req.headers['transfer-encoding'] && Number(req.headers['content-length'] ?? 0) === 0;
      if (!noBody) return startBody(req, res, next);
      req.body = { dryRun: false, deleteUntagged: true };
      next();
    },
    async (req, res) => {
    const body = req.body as { dryRun: boolean; deleteUntagged: boolean };
    const run = await gc.start(principalOf(req), { dryRun: body.dryRun, deleteUntagged: body.deleteUntagged });
    res.status(202).location(`${req.baseUrl}/gc/${run.id}`).json(run);
    },
  );

  r.get('/gc', op('gc_list'), validate({ query: 'GcListQuery' }), async (req, res) => {
    const q = validQuery<{ page: number; page_size: number }>(req);
    const page = await gc.history(principalOf(req), q.page, q.page_size);
    res.setHeader('X-Total-Count', String(page.total));
    res.json(page);
  });

  r.get('/gc/:id', op('gc_get'), async (req, res) => {
    res.json(await gc.get(principalOf(req), runId(req.params.id)));
  });

  r.get('/gc/:id/log', op('gc_log'), async (req, res) => {
    const text = await gc.log(principalOf(req), runId(req.params.id));
    res.type('text/plain; charset=utf-8').send(text);
  });

  return r;
}
