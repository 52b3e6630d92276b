import { Router } from 'express';
import { notFound } from '../../domain/errors';
import type { ActivityQuery, ActivityService } from '../../domain/activity.service';
import type { RetentionPolicy, RetentionService } from '../../domain/retention.service';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate, validQuery } from '../validate';

const runId = (raw: unknown): number => {
  const s = String(raw);
  if (!/^\d{1,15}$/.test(s)) throw notFound(`retention run ${s}`);
  return Number(s);
};
const ws = (raw: unknown): string => String(raw);

/** Workspace activity and retention (issue 13). */
export function policiesRoutes(deps: { activity?: ActivityService; retention?: RetentionService }): Router {
  const r = Router();
  const { activity, retention } = deps;

  if (activity) {
    r.get('/workspaces/:workspace/activity', op('activity_list'), validate({ query: 'ActivityQuery' }), async (req, res) => {
      const q = validQuery<Omit<ActivityQuery, 'pageSize'> & { page_size: number }>(req);
      const { page_size: pageSize, ...rest } = q;
      const page = await activity.list(principalOf(req), ws(req.params.workspace), { ...rest, pageSize });
      res.setHeader('X-Total-Count', String(page.total));
      res.json(page);
    });
  }

  if (retention) {
    r.get('/workspaces/:workspace/retention', op('retention_get'), async (req, res) => {
      res.json(await retention.get(principalOf(req), ws(req.params.workspace)));
    });
    r.put('/workspaces/:workspace/retention', op('retention_set'), validate({ body: 'RetentionPolicy' }), async (req, res) => {
      res.json(await retention.set(principalOf(req), ws(req.params.workspace), req.body as RetentionPolicy));
    });
    r.delete('/workspaces/:workspace/retention', op('retention_disable'), async (req, res) => {
      await retention.disable(principalOf(req), ws(req.params.workspace));
      res.status(204).end();
    });
    const startBody = validate({ body: 'RetentionRunStart' });
    r.post(
      '/workspaces/:workspace/retention/runs',
      op('retention_run'),
      (req, res, next) => {
        // no body = a dry run
        const noBody = req.body === undefined && !req.headers['transfer-encoding'] && Number(req.headers['content-length'] ?? 0) === 0;
        if (!noBody) return startBody(req, res, next);
        req.body = { dryRun: true };
        next();
      },
      async (req, res) => {
        const run = await retention.start(principalOf(req), ws(req.params.workspace), (req.body as { dryRun: boolean }).dryRun);
        res.status(202).location(`${req.baseUrl}/workspaces/${encodeURIComponent(ws(req.params.workspace))}/retention/runs/${run.id}`).json(run);
      },
    );
    r.get('/workspaces/:workspace/retention/runs', op('retention_runs'), validate({ query: 'RetentionRunsQuery' }), async (req, res) => {
      const q = validQuery<{ page: number; page_size: number }>(req);
      const page = await retention.runs(principalOf(req), ws(req.params.workspace), q.page, q.page_size);
      res.setHeader('X-Total-Count', String(page.total));
      res.json(page);
    });
    r.get('/workspaces/:workspace/retention/runs/:id', op('retention_run_get'), async (req, res) => {
      res.json(await retention.run(principalOf(req), ws(req.params.workspace), runId(req.params.id)));
    });
  }
  return r;
}
