import { AppError } from '../../src/domain/errors';
import type { ListQuery, Page } from '../../src/ports/harbor';
import type {
  HarborAuditLog,
  HarborPoliciesPort,
  HarborRetentionExecution,
  HarborRetentionPolicy,
  HarborRetentionTask,
} from '../../src/ports/harbor-policies';
import type { HarborCall, HarborReply } from './harbor-http';
import { idFromLocation, idSegment, projectPath } from './paths';

type Call = <T>(c: Omit<HarborCall, 'byName'> & { project?: string }) => Promise<HarborReply<T>>;
type PageFn = <T>(operation: string, path: string, query?: ListQuery, extra?: Record<string, string | undefined>, project?: string) => Promise<Page<T>>;

const retentionPath = (id: number) => `/retentions/${idSegment('retention id', id)}`;

/** Project logs and tag retention over the adapter's transport (mixed into createHarborAdapter). */
export function policiesMethods(h: { call: Call; page: PageFn; absentAsNull: <T>(p: Promise<T>) => Promise<T | null> }): HarborPoliciesPort {
  const created = (reply: HarborReply, what: string): number => {
    const id = idFromLocation(reply.headers.location);
    if (id === undefined) throw new AppError('upstream_unavailable', `upstream unavailable: Harbor did not report the ${what} id`);
    return id;
  };
  return {
    async projectLogs(project, query) {
      return h.page<HarborAuditLog>('projectLogs', `${projectPath(project)}/logs`, query, {}, project);
    },
    async createRetention(policy) {
      return created(await h.call({ operation: 'createRetention', method: 'POST', path: '/retentions', body: policy }), 'retention policy');
    },
    async getRetention(id) {
      return (await h.call<HarborRetentionPolicy>({ operation: 'getRetention', method: 'GET', path: retentionPath(id) })).data;
    },
    async updateRetention(id, policy: HarborRetentionPolicy) {
      await h.call({ operation: 'updateRetention', method: 'PUT', path: retentionPath(id), body: policy });
    },
    async startRetention(id, dryRun) {
      // Stryker disable next-line BooleanLiteral: equivalent, Harbor answers 201 with an empty body, which JSON and text mode both leave empty; only the Location header is read
      const reply = await h.call({ operation: 'startRetention', method: 'POST', path: `${retentionPath(id)}/executions`, body: { dry_run: dryRun }, text: true });
      return created(reply, 'retention execution');
    },
    async listRetentionExecutions(id, page, pageSize) {
      return h.page<HarborRetentionExecution>('listRetentionExecutions', `${retentionPath(id)}/executions`, { page, pageSize });
    },
    async listRetentionTasks(id, eid, page, pageSize) {
      return h.page<HarborRetentionTask>('listRetentionTasks', `${retentionPath(id)}/executions/${idSegment('execution id', eid)}/tasks`, { page, pageSize });
    },
    async retentionTaskLog(id, eid, tid) {
      return h.absentAsNull(
        h
          .call<unknown>({
            operation: 'retentionTaskLog',
            method: 'GET',
            path: `${retentionPath(id)}/executions/${idSegment('execution id', eid)}/tasks/${idSegment('task id', tid)}`,
            text: true,
          })
          .then((r) => (typeof r.data === 'string' ? r.data : r.data == null ? '' : String(r.data))),
      );
    },
  };
}
