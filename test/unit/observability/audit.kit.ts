/** What the audit trail tests share: a console audit event, numbered so each one is told apart by its request id. */
import type { AuditEvent } from '../../../src/observability/audit';

/** Event `n`: request id `req-<n>`, recorded `n` ms after 2023-11-14T22:13:20Z, tagging `v<n>`. */
export const event = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  type: 'audit',
  time: new Date(1_700_000_000_000 + n).toISOString(),
  requestId: `req-${n}`,
  clientAddress: '127.0.0.1',
  actor: { userId: 'u1', username: 'alice', cloudAdmin: false, projects: ['p1'] },
  action: 'image_versions_delete',
  method: 'DELETE',
  path: '/api/v1/workspaces/ws/images/app/versions',
  target: { workspace: 'ws', image: 'app', tags: [`v${n}`] },
  outcome: 'success',
  status: 200,
  durationMs: 5,
  ...extra,
});
