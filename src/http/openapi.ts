/**
 * The OpenAPI 3 document of hubgate's API, served at /openapi.json. Request schemas here are also what the
 * edge validates with (src/http/validate.ts), so the document and the behaviour cannot drift apart.
 */
import { errorResponses as errorResponsesFor } from './openapi-errors';
import { imagePaths, imageSchemas } from './routes/images.openapi';
import { gcPaths, gcSchemas } from './routes/gc.openapi';
import { uploadPaths, uploadSchemas } from './routes/uploads.openapi';
import { limitPaths, limitSchemas } from './routes/limits.openapi';
import { policyPaths, policySchemas } from './routes/policies.openapi';
import { mePaths, meSchemas } from './routes/me.openapi';

const errorResponses = (...codes: number[]) => errorResponsesFor(codes);

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'Workspace name (Harbor project-name rules).',
  schema: { type: 'string' },
};
const projectParam = { name: 'projectId', in: 'path', required: true, description: 'Platform project id.', schema: { type: 'string' } };

export const schemas = {
  Errors: {
    type: 'object',
    description: "Harbor's error envelope.",
    required: ['errors'],
    properties: {
      errors: {
        type: 'array',
        items: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
      },
    },
  },
  AccessLevel: { type: 'string', enum: ['private', 'public'] },
  Project: {
    type: 'object',
    required: ['id', 'name', 'department'],
    properties: { id: { type: 'string' }, name: { type: 'string' }, department: { type: 'string' } },
  },
  WorkspaceCreate: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'projectId'],
    properties: {
      name: {
        type: 'string',
        minLength: 1,
        maxLength: 255,
        pattern: '^[a-z0-9]+(?:[._-][a-z0-9]+)*$',
        description: 'Global workspace name; becomes the Harbor project and the first part of the push address.',
      },
      projectId: { type: 'string', minLength: 1, maxLength: 128, description: 'Owning platform project (one the caller has joined; any for cloud admins).' },
      projectName: { type: 'string', maxLength: 255, description: 'Display name, for cloud admins creating in a project they have not joined.' },
      department: { type: 'string', maxLength: 255, description: "The project's department; must match the caller's claims when given." },
      access: { type: 'string', enum: ['private', 'public'], default: 'private' },
    },
  },
  WorkspaceUpdate: {
    type: 'object',
    additionalProperties: false,
    required: ['access'],
    properties: { access: { type: 'string', enum: ['private', 'public'] } },
  },
  WorkspaceListQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      department: { type: 'string', maxLength: 255 },
      projectId: { type: 'string', maxLength: 128 },
      access: { type: 'string', enum: ['private', 'public'] },
      q: { type: 'string', maxLength: 255 },
      sort: { type: 'string', enum: ['name', '-name', 'created', '-created'], default: 'name', description: 'Order: by name or creation time; "-" for descending.' },
      page: { type: 'integer', minimum: 1, default: 1 },
      page_size: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    },
  },
  Workspace: {
    type: 'object',
    required: ['name', 'access', 'project', 'relation', 'createdAt', 'updatedAt', 'pullAddressPrefix'],
    properties: {
      name: { type: 'string' },
      access: { $ref: '#/components/schemas/AccessLevel' },
      project: { oneOf: [{ $ref: '#/components/schemas/Project' }, { type: 'null' }], description: 'Owner; null for Harbor projects not created through hubgate (cloud admins only).' },
      relation: { type: 'string', enum: ['manage', 'view'], description: 'manage: own project (or cloud admin); view: public workspace of another project.' },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      pullAddressPrefix: { type: 'string', example: 'hub.ecns.io/team-a' },
    },
  },
  WorkspaceDetail: {
    allOf: [
      { $ref: '#/components/schemas/Workspace' },
      {
        type: 'object',
        required: ['imageCount', 'storageUsedBytes', 'storageLimitBytes', 'storageUsedPercent'],
        properties: {
          imageCount: { type: 'integer' },
          storageUsedBytes: { type: 'integer', description: 'As Harbor counts it (project quota usage).' },
          storageLimitBytes: { type: ['integer', 'null'], description: 'Storage quota; null = no limit (see /workspaces/{name}/quota).' },
          storageUsedPercent: { type: ['number', 'null'], description: 'storageUsedBytes / storageLimitBytes in percent, one decimal; null without a quota.' },
        },
      },
    ],
  },
  WorkspacePage: {
    type: 'object',
    required: ['items', 'total', 'page', 'pageSize'],
    properties: {
      items: { type: 'array', items: { $ref: '#/components/schemas/Workspace' } },
      total: { type: 'integer' },
      page: { type: 'integer' },
      pageSize: { type: 'integer' },
    },
  },
  WorkspaceDeleted: {
    type: 'object',
    required: ['name', 'deletedImages', 'note'],
    properties: { name: { type: 'string' }, deletedImages: { type: 'integer' }, note: { type: 'string' } },
  },
  Credentials: {
    type: 'object',
    required: ['registry', 'username', 'password', 'workspaces', 'docker', 'containerd', 'troubleshooting'],
    properties: {
      registry: { type: 'string', example: 'hub.ecns.io' },
      username: { type: 'string', description: 'Shell-safe (letters, digits, "-").' },
      password: { type: 'string' },
      workspaces: { type: 'array', items: { type: 'string' }, description: 'Workspaces these credentials push to.' },
      docker: { type: 'object', additionalProperties: { type: 'string' }, description: 'Copy-ready commands: login, tag, push, pull.' },
      containerd: { type: 'object', additionalProperties: { type: 'string' }, description: 'Copy-ready ctr commands: tag, push, pull.' },
      troubleshooting: {
        type: 'object',
        description: 'Fixes for "x509: certificate signed by unknown authority".',
        additionalProperties: { type: 'string' },
      },
    },
  },
  ...imageSchemas,
  ...gcSchemas,
  ...uploadSchemas,
  ...limitSchemas,
  ...policySchemas,
  ...meSchemas,
} as const;

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: keyof typeof schemas) => ({ $ref: `#/components/schemas/${name}` });

export function openApiDocument(opts: { version: string; publicUrl: string }) {
  return {
    openapi: '3.0.3',
    info: {
      title: 'hubgate — Container Image Service API',
      version: opts.version,
      // Stryker disable StringLiteral: documentation prose; the document's structure is checked by test/unit/http/openapi.test.ts
      description:
        'Multi-tenant image service in front of Harbor 2.5.5. Every call needs a Keycloak bearer token. ' +
        'Errors use Harbor\'s envelope {"errors":[{"code","message"}]}. Private workspaces of other projects answer 404.',
      // Stryker restore StringLiteral
    },
    servers: [{ url: `${opts.publicUrl}/api/v1` }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas,
    },
    security: [{ bearer: [] }],
    paths: {
      '/workspaces': {
        get: {
          operationId: 'workspaces_list',
          summary: 'List the workspaces the caller can see (own projects, plus public ones of other projects).',
          parameters: Object.entries(schemas.WorkspaceListQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
          responses: {
            200: {
              description: 'A page of workspaces; the total is also in X-Total-Count.',
              headers: { 'X-Total-Count': { schema: { type: 'integer' } } },
              content: json(ref('WorkspacePage')),
            },
            ...errorResponses(400, 401, 502, 504),
          },
        },
        post: {
          operationId: 'workspaces_create',
          summary: 'Create a workspace (a Harbor project) owned by a platform project.',
          requestBody: { required: true, content: json(ref('WorkspaceCreate')) },
          responses: {
            201: { description: 'Created', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('WorkspaceDetail')) },
            ...errorResponses(400, 401, 403, 409, 502, 504),
          },
        },
      },
      '/workspaces/{name}': {
        parameters: [nameParam],
        get: {
          operationId: 'workspaces_get',
          summary: 'Workspace details: owner, access level, image count, storage used.',
          responses: { 200: { description: 'OK', content: json(ref('WorkspaceDetail')) }, ...errorResponses(401, 404, 502, 504) },
        },
        patch: {
          operationId: 'workspaces_update',
          summary: 'Change the access level (private ↔ public).',
          requestBody: { required: true, content: json(ref('WorkspaceUpdate')) },
          responses: { 200: { description: 'OK', content: json(ref('WorkspaceDetail')) }, ...errorResponses(400, 401, 403, 404, 502, 504) },
        },
        delete: {
          operationId: 'workspaces_delete',
          summary: 'Delete every image inside, then the workspace. Space returns after garbage collection.',
          responses: { 200: { description: 'Deleted', content: json(ref('WorkspaceDeleted')) }, ...errorResponses(401, 403, 404, 409, 502, 504) },
        },
      },
      '/projects/{projectId}/credentials': {
        parameters: [projectParam],
        get: {
          operationId: 'credentials_get',
          summary: "The project's registry credentials, with ready docker and containerd commands.",
          responses: { 200: { description: 'OK (Cache-Control: no-store)', content: json(ref('Credentials')) }, ...errorResponses(401, 404, 409, 502, 504) },
        },
      },
      '/projects/{projectId}/credentials/rotate': {
        parameters: [projectParam],
        post: {
          operationId: 'credentials_rotate',
          summary: 'Generate a new password: it works at once and the old one stops working.',
          responses: { 200: { description: 'OK (Cache-Control: no-store)', content: json(ref('Credentials')) }, ...errorResponses(401, 404, 502, 504) },
        },
      },
      ...imagePaths,
      ...gcPaths,
      ...uploadPaths,
      ...limitPaths,
      ...policyPaths,
      ...mePaths,
    },
  };
}
