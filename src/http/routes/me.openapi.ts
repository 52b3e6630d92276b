/** OpenAPI fragment for `GET /me`, merged into src/http/openapi.ts. */
import { errorResponses } from '../openapi-errors';

export const meSchemas = {
  Me: {
    type: 'object',
    required: ['userId', 'username', 'cloudAdmin', 'projects', 'mayRunGc'],
    properties: {
      userId: { type: 'string' },
      username: { type: 'string' },
      cloudAdmin: { type: 'boolean' },
      projects: {
        type: 'array',
        items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, department: { type: 'string' } } },
      },
      mayRunGc: { type: 'boolean', description: 'Cloud admins, or every member when HUBGATE_GC_ALLOW_MEMBERS=true.' },
    },
    example: {
      userId: 'u-alice',
      username: 'alice',
      cloudAdmin: false,
      projects: [{ id: 'demo', name: 'Demo project', department: 'default' }],
      mayRunGc: false,
    },
  },
};

export const mePaths = {
  '/me': {
    get: {
      operationId: 'me_get',
      summary: 'The caller as hubgate reads the token: user, cloud admin or not, joined projects (what the console shows).',
      responses: {
        200: { description: 'OK (Cache-Control: no-store)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Me' } } } },
        ...errorResponses([401]),
      },
    },
  },
};
