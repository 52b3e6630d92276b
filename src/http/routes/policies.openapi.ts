/** OpenAPI fragment for workspace activity and retention (issue 13), merged into src/http/openapi.ts. */
import { errorResponses } from '../openapi-errors';
import { RETENTION_DRY_RUN_NOTE, RETENTION_GC_NOTE } from '../../domain/retention.service';

const json = (schema: object, example?: unknown) => ({ 'application/json': { schema, ...(example === undefined ? {} : { example }) } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const wsParam = { name: 'workspace', in: 'path', required: true, description: 'Workspace name.', schema: { type: 'string' } };
const runParam = { name: 'id', in: 'path', required: true, description: 'Run id.', schema: { type: 'integer' } };
const errors = (...codes: number[]) =>
  errorResponses(codes, {
    403: "Another project's public workspace: only members of the owning project (and cloud admins) may",
    404: 'No such workspace (or another project\'s private one), or no such run',
    409: 'The workspace has no retention policy',
  });

const count = { type: 'integer', minimum: 0, maximum: 100000 };
const days = { type: 'integer', minimum: 1, maximum: 36500 };

/** Inlined where a request schema uses it (the edge validator compiles request schemas without $ref). */
const retentionRule = {
  type: 'object',
  additionalProperties: false,
  required: ['images'],
  properties: {
    images: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      pattern: '^[A-Za-z0-9._/*?{},-]+$',
      description: 'Image names covered (doublestar: `*` one level, `**` any, `{a,b}` alternatives), e.g. `**` or `team/*`.',
    },
    keepLatestPushed: { ...count, description: 'Keep the N most recently pushed versions.' },
    keepLatestPulled: { ...count, description: 'Keep the N most recently pulled versions.' },
    keepPushedWithinDays: { ...days, description: 'Keep versions pushed within the last D days.' },
    keepPulledWithinDays: { ...days, description: 'Keep versions pulled within the last D days.' },
  },
} as const;

export const policySchemas = {
  ActivityQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      operation: { type: 'string', enum: ['push', 'pull', 'delete'] },
      image: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,=~\\[\\]{}]+$', description: "Image name (Harbor's fuzzy match: `app` also matches `app2`)." },
      version: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^,=~\\[\\]{}]+$' },
      actorProject: { type: 'string', minLength: 1, maxLength: 128, description: "Only what this platform project's registry credentials did." },
      from: { type: 'string', format: 'date-time' },
      to: { type: 'string', format: 'date-time' },
      page: { type: 'integer', minimum: 1, default: 1 },
      page_size: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    },
  },
  ActivityActor: {
    type: 'object',
    required: ['kind'],
    description:
      "`project`: that project's registry credentials (docker/containerd); `user`: a platform user through the console; `retention`: a retention run; `harbor`: someone acting in Harbor directly (or a console action hubgate could not attribute).",
    properties: {
      kind: { type: 'string', enum: ['project', 'user', 'retention', 'harbor'] },
      projectId: { type: ['string', 'null'] },
      projectName: { type: ['string', 'null'] },
      department: { type: ['string', 'null'] },
      userId: { type: 'string' },
      username: { type: 'string' },
      requestId: { type: 'string', description: "The console call's request id (see the audit events)." },
      name: { type: 'string', description: "Harbor's user name (kind harbor)." },
    },
  },
  ActivityEntry: {
    type: 'object',
    required: ['id', 'time', 'operation', 'image', 'version', 'digest', 'resourceType', 'actor'],
    properties: {
      id: { type: 'integer' },
      time: { type: 'string', format: 'date-time' },
      operation: { type: 'string', enum: ['push', 'pull', 'delete', 'tag', 'workspace_create', 'workspace_delete', 'other'] },
      image: { type: ['string', 'null'] },
      version: { type: ['string', 'null'] },
      digest: { type: ['string', 'null'] },
      resourceType: { type: 'string', enum: ['artifact', 'tag', 'repository', 'project'] },
      actor: ref('ActivityActor'),
    },
  },
  ActivityPage: {
    type: 'object',
    properties: { items: { type: 'array', items: ref('ActivityEntry') }, total: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' } },
  },
  RetentionRule: retentionRule,
  RetentionPolicy: {
    type: 'object',
    additionalProperties: false,
    required: ['rules'],
    properties: {
      rules: { type: 'array', maxItems: 15, items: retentionRule },
      protected: {
        type: 'array',
        maxItems: 20,
        default: [],
        items: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._*?-]+$' },
        description: 'Version patterns always kept, e.g. `latest`, `v*`.',
      },
      schedule: {
        type: ['string', 'null'],
        maxLength: 128,
        default: null,
        description: "Cron with seconds (Harbor's format: `0 0 3 * * *` = every day at 03:00); null = manual runs only.",
      },
    },
  },
  RetentionPolicyView: {
    allOf: [ref('RetentionPolicy'), { type: 'object', properties: { enabled: { type: 'boolean' } } }],
  },
  RetentionRunStart: {
    type: 'object',
    additionalProperties: false,
    properties: { dryRun: { type: 'boolean', default: true, description: 'Only report what would be removed (the default: dry run first).' } },
  },
  RetentionRunsQuery: {
    type: 'object',
    additionalProperties: false,
    properties: { page: { type: 'integer', minimum: 1, default: 1 }, page_size: { type: 'integer', minimum: 1, maximum: 50, default: 10 } },
  },
  RetentionRun: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      dryRun: { type: 'boolean' },
      trigger: { type: 'string', enum: ['manual', 'schedule'] },
      status: { type: 'string', enum: ['Pending', 'Running', 'Success', 'Error', 'Stopped'] },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: ['string', 'null'], format: 'date-time' },
      counts: {
        type: 'object',
        properties: { images: { type: 'integer' }, total: { type: 'integer' }, retained: { type: 'integer' }, removed: { type: 'integer', description: 'Removed, or for a dry run: would be removed.' } },
      },
      note: { type: 'string', example: RETENTION_GC_NOTE },
    },
  },
  RetentionRunDetail: {
    allOf: [
      ref('RetentionRun'),
      {
        type: 'object',
        properties: {
          tasks: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                image: { type: 'string' },
                status: { type: 'string' },
                total: { type: 'integer' },
                retained: { type: 'integer' },
                removed: { type: 'integer' },
                startedAt: { type: ['string', 'null'] },
                finishedAt: { type: ['string', 'null'] },
              },
            },
          },
          removedVersions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                image: { type: 'string' },
                digest: { type: 'string' },
                tags: { type: 'array', items: { type: 'string' } },
                pushedAt: { type: ['string', 'null'] },
                pulledAt: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
    ],
  },
  RetentionRunPage: {
    type: 'object',
    properties: { items: { type: 'array', items: ref('RetentionRun') }, total: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' }, note: { type: 'string' } },
  },
} as const;

const policyExample = { rules: [{ images: '**', keepLatestPushed: 10, keepPulledWithinDays: 30 }], protected: ['latest', 'v*'], schedule: '0 0 3 * * *' };
const runExample = {
  id: 6,
  dryRun: true,
  trigger: 'manual',
  status: 'Success',
  startedAt: '2026-12-04T16:37:56.105417Z',
  finishedAt: '2026-12-04T16:37:56Z',
  counts: { images: 2, total: 6, retained: 4, removed: 2 },
  note: `${RETENTION_DRY_RUN_NOTE} ${RETENTION_GC_NOTE}`,
};

const curl = (method: string, path: string, body?: unknown) => [
  {
    lang: 'shell',
    label: 'curl',
    source: `curl -s${method === 'GET' ? '' : ` -X ${method}`} -H "Authorization: Bearer $TOKEN"${body === undefined ? '' : ` -H 'Content-Type: application/json' -d '${JSON.stringify(body)}'`} "$HUBGATE/api/v1${path}"`,
  },
];

export const policyPaths = {
  '/workspaces/{workspace}/activity': {
    parameters: [wsParam],
    get: {
      operationId: 'activity_list',
      'x-codeSamples': curl('GET', '/workspaces/team-a-apps/activity?operation=push&page_size=20'),
      summary: "Pushes, pulls and deletes in the workspace, newest first, with who did them (a project's credentials, a console user, a retention run). Members of the owning project and cloud admins.",
      parameters: Object.entries(policySchemas.ActivityQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
      responses: {
        200: {
          description: 'A page of activity; the total is also in X-Total-Count.',
          headers: { 'X-Total-Count': { schema: { type: 'integer' } } },
          content: json(ref('ActivityPage'), {
            items: [
              { id: 41, time: '2026-12-04T16:37:43.674Z', operation: 'pull', image: 'app', version: 'v1', digest: null, resourceType: 'artifact', actor: { kind: 'project', projectId: 'proj-a', projectName: 'Team A', department: 'dept-1', username: 'hg-proj-a' } },
              { id: 40, time: '2026-12-04T16:37:42.530Z', operation: 'delete', image: 'web', version: '1.0', digest: null, resourceType: 'tag', actor: { kind: 'user', userId: 'u-alice', username: 'alice', requestId: '5c0…' } },
            ],
            total: 2,
            page: 1,
            pageSize: 20,
          }),
        },
        ...errors(400, 401, 403, 404, 502, 504),
      },
    },
  },
  '/workspaces/{workspace}/retention': {
    parameters: [wsParam],
    get: {
      operationId: 'retention_get',
      'x-codeSamples': curl('GET', '/workspaces/team-a-apps/retention'),
      summary: "The workspace's retention policy (rules, protected versions, schedule).",
      responses: { 200: { description: 'OK', content: json(ref('RetentionPolicyView'), { ...policyExample, enabled: true }) }, ...errors(401, 403, 404, 502, 504) },
    },
    put: {
      operationId: 'retention_set',
      'x-codeSamples': curl('PUT', '/workspaces/team-a-apps/retention', policyExample),
      summary: 'Set the retention policy. Start with a dry run (POST …/retention/runs) to see what it would remove.',
      requestBody: { required: true, content: json(ref('RetentionPolicy'), policyExample) },
      responses: { 200: { description: 'Saved', content: json(ref('RetentionPolicyView'), { ...policyExample, enabled: true }) }, ...errors(400, 401, 403, 404, 502, 504) },
    },
    delete: {
      operationId: 'retention_disable',
      'x-codeSamples': curl('DELETE', '/workspaces/team-a-apps/retention'),
      summary: 'Turn retention off (no rules, no schedule). Run history stays.',
      responses: { 204: { description: 'Disabled' }, ...errors(401, 403, 404, 502, 504) },
    },
  },
  '/workspaces/{workspace}/retention/runs': {
    parameters: [wsParam],
    post: {
      operationId: 'retention_run',
      'x-codeSamples': curl('POST', '/workspaces/team-a-apps/retention/runs', { dryRun: true }),
      summary: 'Run the policy now; a dry run (the default) removes nothing. Removed versions free space only after garbage collection.',
      requestBody: { required: false, content: json(ref('RetentionRunStart'), { dryRun: true }) },
      responses: {
        202: { description: 'Started', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('RetentionRun'), { ...runExample, status: 'Running', finishedAt: null }) },
        ...errors(400, 401, 403, 404, 409, 502, 504),
      },
    },
    get: {
      operationId: 'retention_runs',
      'x-codeSamples': curl('GET', '/workspaces/team-a-apps/retention/runs'),
      summary: 'Run history, newest first, with counts per run.',
      parameters: Object.entries(policySchemas.RetentionRunsQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
      responses: { 200: { description: 'OK', content: json(ref('RetentionRunPage'), { items: [runExample], total: 1, page: 1, pageSize: 10, note: RETENTION_GC_NOTE }) }, ...errors(400, 401, 403, 404, 502, 504) },
    },
  },
  '/workspaces/{workspace}/retention/runs/{id}': {
    parameters: [wsParam, runParam],
    get: {
      operationId: 'retention_run_get',
      'x-codeSamples': curl('GET', '/workspaces/team-a-apps/retention/runs/6'),
      summary: 'One run: counts per image and the versions it removed (or, for a dry run, would remove).',
      responses: {
        200: {
          description: 'OK',
          content: json(ref('RetentionRunDetail'), {
            ...runExample,
            tasks: [{ image: 'app', status: 'Success', total: 5, retained: 4, removed: 1, startedAt: '2026-12-04T16:37:56Z', finishedAt: '2026-12-04T16:37:56Z' }],
            removedVersions: [{ image: 'app', digest: 'sha256:2e1243d24f13652c7145af6bfb8b70122823a684313114e82b8651f555684359', tags: ['old'], pushedAt: '2026-12-04T16:37:34.000Z', pulledAt: null }],
          }),
        },
        ...errors(401, 403, 404, 502, 504),
      },
    },
  },
};
