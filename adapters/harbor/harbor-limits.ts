import type { HarborImmutableRule, HarborLimitsPort, HarborQuota } from '../../src/ports/harbor-limits';
import type { HarborCall, HarborReply } from './harbor-http';
import { idFromLocation, idSegment, projectPath } from './paths';

type Call = <T>(c: Omit<HarborCall, 'byName'> & { project?: string }) => Promise<HarborReply<T>>;

interface QuotaRow {
  id: number;
  hard?: { storage?: number };
  used?: { storage?: number };
  ref?: { id?: number; name?: string };
}

const quotaOf = (q: QuotaRow): HarborQuota => ({ id: q.id, hard: q.hard?.storage ?? -1, used: q.used?.storage ?? 0 });
const rulesPath = (project: string) => `${projectPath(project)}/immutabletagrules`;
const rulePath = (project: string, id: number) => `${rulesPath(project)}/${idSegment('rule id', id)}`;

/**
 * Harbor's quota and immutable-rule calls, on the adapter's `call` (identity check, error mapping, retries for
 * idempotent calls). A rule is created exactly as Harbor's own UI does: action `immutable`, template
 * `immutable_template`, one `doublestar` tag selector (`matches`) and one repository selector (`repoMatches`).
 */
export function harborLimits(call: Call): HarborLimitsPort {
  const port: HarborLimitsPort = {
    async getProjectQuota(projectId) {
      const { data } = await call<QuotaRow[]>({
        operation: 'listQuotas',
        method: 'GET',
        path: '/quotas',
        params: { reference: 'project', reference_id: String(projectId) },
      });
      const row = Array.isArray(data) ? data.find((q) => q.ref?.id === projectId) : undefined;
      return row ? quotaOf(row) : null;
    },

    async listQuotas() {
      const out: (HarborQuota & { projectId: number; projectName: string })[] = [];
      for (let page = 1; page <= 10_000; page++) {
        const reply = await call<QuotaRow[]>({ operation: 'listQuotas', method: 'GET', path: '/quotas', params: { reference: 'project', page, page_size: 100 } });
        const rows = Array.isArray(reply.data) ? reply.data : [];
        for (const q of rows) out.push({ ...quotaOf(q), projectId: q.ref?.id ?? 0, projectName: q.ref?.name ?? '' });
        const total = Number(reply.headers['x-total-count']);
        if (rows.length < 100 || (Number.isFinite(total) && page * 100 >= total)) break;
      }
      return out;
    },

    async setQuota(quotaId, hardBytes) {
      await call({ operation: 'updateQuota', method: 'PUT', path: `/quotas/${idSegment('quota id', quotaId)}`, body: { hard: { storage: hardBytes } } });
    },

    async listImmutableRules(project) {
      const { data } = await call<HarborImmutableRule[]>({ operation: 'ListImmuRules', method: 'GET', path: rulesPath(project), project });
      return Array.isArray(data) ? data : [];
    },

    async createImmutableRule(project, rule) {
      const reply = await call({
        operation: 'CreateImmuRule',
        method: 'POST',
        path: rulesPath(project),
        project,
        body: {
          disabled: false,
          action: 'immutable',
          template: 'immutable_template',
          tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: rule.tagPattern }],
          scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: rule.repositoryPattern }] },
        },
      });
      const id = idFromLocation(reply.headers.location);
      if (id !== undefined) return id;
      const found = (await port.listImmutableRules(project)).find(
        (r) => r.tag_selectors?.[0]?.pattern === rule.tagPattern && r.scope_selectors?.repository?.[0]?.pattern === rule.repositoryPattern,
      );
      return found?.id ?? 0;
    },

    async deleteImmutableRule(project, id) {
      await call({ operation: 'DeleteImmuRule', method: 'DELETE', path: rulePath(project, id), project });
    },
  };
  return port;
}
