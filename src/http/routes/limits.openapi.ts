/** OpenAPI fragment for workspace policies (storage quota, immutable versions), merged into src/http/openapi.ts. */
import { errorResponses } from '../openapi-errors';

const errors = (...codes: number[]) =>
  errorResponses(codes, {
    403: 'Visible but not allowed: quota changes are for cloud admins; rules for members of the owning project',
    404: 'No such workspace (or another project\'s private one), or no such rule',
    409: 'An identical rule exists',
  });
const json = (schema: object, example?: unknown) => ({ 'application/json': { schema, ...(example === undefined ? {} : { example }) } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, example: 'team-a-apps' };
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, example: 3 };

const quotaExample = { workspace: 'team-a-apps', limitBytes: 10737418240, usedBytes: 9878424780, usedPercent: 92, limit: '10.0 GiB', used: '9.2 GiB' };
const ruleExample = { id: 3, tags: 'v*', images: '**', enabled: true };

export const limitSchemas = {
  WorkspaceQuota: {
    type: 'object',
    required: ['workspace', 'limitBytes', 'usedBytes', 'usedPercent', 'limit', 'used'],
    properties: {
      workspace: { type: 'string' },
      limitBytes: { type: ['integer', 'null'], description: 'null = no limit' },
      usedBytes: { type: 'integer', description: "As Harbor counts it: the workspace's distinct blobs and manifests (freed by garbage collection)." },
      usedPercent: { type: ['number', 'null'], description: 'usedBytes / limitBytes in percent, one decimal' },
      limit: { type: ['string', 'null'], example: '10.0 GiB' },
      used: { type: 'string', example: '9.2 GiB' },
    },
    example: quotaExample,
  },
  WorkspaceQuotaSet: {
    type: 'object',
    additionalProperties: false,
    required: ['limit'],
    properties: {
      limit: {
        description: 'Bytes (integer ≥ 1), or a size with a unit: KiB/MiB/GiB/TiB/PiB (1024), KB/MB/GB/TB/PB (1000); null clears the limit.',
        oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', minLength: 1, maxLength: 32 }, { type: 'null' }],
        example: '10GiB',
      },
    },
  },
  ImmutableRule: {
    type: 'object',
    required: ['id', 'tags', 'images', 'enabled'],
    properties: {
      id: { type: 'integer' },
      tags: { type: 'string', description: 'doublestar pattern of protected versions (tags)', example: 'v*' },
      images: { type: 'string', description: 'doublestar pattern of the images (names without the workspace); ** = every image', example: '**' },
      enabled: { type: 'boolean' },
    },
    example: ruleExample,
  },
  ImmutableRuleCreate: {
    type: 'object',
    additionalProperties: false,
    required: ['tags'],
    properties: {
      tags: { type: 'string', minLength: 1, maxLength: 255, example: 'v*', description: '`*` stops at `/`, `**` crosses it, `?`, `[abc]`, `{a,b}`' },
      images: { type: 'string', minLength: 1, maxLength: 255, default: '**', example: 'release/**' },
    },
  },
  ImmutableRuleList: {
    type: 'object',
    required: ['workspace', 'items'],
    properties: { workspace: { type: 'string' }, items: { type: 'array', items: ref('ImmutableRule') } },
    example: { workspace: 'team-a-apps', items: [ruleExample] },
  },
} as const;

export const limitPaths = {
  '/workspaces/{name}/quota': {
    parameters: [nameParam],
    get: {
      operationId: 'workspace_quota_get',
      summary: 'Storage quota of a workspace: limit, used and percentage. Anyone who sees the workspace.',
      responses: { 200: { description: 'OK', content: json(ref('WorkspaceQuota'), quotaExample) }, ...errors(401, 404, 502, 504) },
    },
    put: {
      operationId: 'workspace_quota_set',
      summary: 'Set (or with null clear) the storage quota. Cloud admins only. Pushes and uploads over it are refused.',
      requestBody: { required: true, content: json(ref('WorkspaceQuotaSet'), { limit: '10GiB' }) },
      responses: { 200: { description: 'OK', content: json(ref('WorkspaceQuota'), quotaExample) }, ...errors(400, 401, 403, 404, 502, 504) },
    },
    delete: {
      operationId: 'workspace_quota_clear',
      summary: 'Clear the storage quota (no limit). Cloud admins only.',
      responses: {
        200: { description: 'OK', content: json(ref('WorkspaceQuota'), { ...quotaExample, limitBytes: null, usedPercent: null, limit: null }) },
        ...errors(401, 403, 404, 502, 504),
      },
    },
  },
  '/workspaces/{name}/immutable-rules': {
    parameters: [nameParam],
    get: {
      operationId: 'immutable_rules_list',
      summary: 'Immutable-version rules of a workspace. Anyone who sees the workspace.',
      responses: { 200: { description: 'OK', content: json(ref('ImmutableRuleList'), { workspace: 'team-a-apps', items: [ruleExample] }) }, ...errors(401, 404, 502, 504) },
    },
    post: {
      operationId: 'immutable_rules_create',
      summary: 'Protect versions: existing versions whose tag (and image) match can no longer be overwritten or deleted (409).',
      requestBody: { required: true, content: json(ref('ImmutableRuleCreate'), { tags: 'v*', images: '**' }) },
      responses: {
        201: { description: 'Created', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('ImmutableRule'), ruleExample) },
        ...errors(400, 401, 403, 404, 409, 502, 504),
      },
    },
  },
  '/workspaces/{name}/immutable-rules/{id}': {
    parameters: [nameParam, idParam],
    delete: {
      operationId: 'immutable_rules_delete',
      summary: 'Remove a rule; the versions it protected can be overwritten and deleted again.',
      responses: {
        200: {
          description: 'Deleted',
          content: json({ type: 'object', properties: { workspace: { type: 'string' }, id: { type: 'integer' }, deleted: { type: 'boolean' } } }, { workspace: 'team-a-apps', id: 3, deleted: true }),
        },
        ...errors(401, 403, 404, 502, 504),
      },
    },
  },
};
