import { Router } from 'express';
import { notFound } from '../../domain/errors';
import type { WorkspacePoliciesService } from '../../domain/workspace-policies.service';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate } from '../validate';

/** Workspace policies: storage quota (cloud admins set it) and immutable versions (the owning project manages them). */
export function limitsRoutes(policies: WorkspacePoliciesService): Router {
  const r = Router();
  const ws = (raw: unknown) => String(raw);
  const ruleId = (raw: unknown): number => {
    const s = String(raw);
    if (!/^\d{1,15}$/.test(s)) throw notFound(`immutable rule ${s}`);
    return Number(s);
  };

  r.get('/workspaces/:name/quota', op('workspace_quota_get'), async (req, res) => {
    res.json(await policies.quota(principalOf(req), ws(req.params.name)));
  });

  r.put('/workspaces/:name/quota', op('workspace_quota_set'), validate({ body: 'WorkspaceQuotaSet' }), async (req, res) => {
    const { limit } = req.body as { limit: number | string | null };
    res.json(await policies.setQuota(principalOf(req), ws(req.params.name), limit));
  });

  r.delete('/workspaces/:name/quota', op('workspace_quota_clear'), async (req, res) => {
    res.json(await policies.setQuota(principalOf(req), ws(req.params.name), null));
  });

  r.get('/workspaces/:name/immutable-rules', op('immutable_rules_list'), async (req, res) => {
    res.json(await policies.rules(principalOf(req), ws(req.params.name)));
  });

  r.post('/workspaces/:name/immutable-rules', op('immutable_rules_create'), validate({ body: 'ImmutableRuleCreate' }), async (req, res) => {
    const rule = await policies.addRule(principalOf(req), ws(req.params.name), req.body as { tags: string; images?: string });
    res.status(201).location(`${req.baseUrl}/workspaces/${ws(req.params.name)}/immutable-rules/${rule.id}`).json(rule);
  });

  r.delete('/workspaces/:name/immutable-rules/:id', op('immutable_rules_delete'), async (req, res) => {
    const id = ruleId(req.params.id);
    await policies.deleteRule(principalOf(req), ws(req.params.name), id);
    res.json({ workspace: ws(req.params.name), id, deleted: true });
  });

  return r;
}
