/**
 * OpenAPI fragment for images (schemas and paths), merged into src/http/openapi.ts. Request schemas here are also
 * the edge validators (src/http/validate.ts).
 */
import { errorResponses } from '../openapi-errors';
import { DESCRIPTION_MAX, BATCH_MAX, GC_NOTE } from '../../domain/images.service';

const errors = (...codes: number[]) =>
  errorResponses(codes, { 403: 'Not allowed (e.g. a shared image: view and pull only)' });
const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const WORKSPACE = '^[a-z0-9]+(?:[._-][a-z0-9]+)*$';

export const imageSchemas = {
  ImageListQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      view: { type: 'string', enum: ['all', 'own', 'shared'], default: 'all', description: 'own: workspaces of my projects; shared: public workspaces of other projects; all: both (cloud admins: everything).' },
      workspace: { type: 'string', maxLength: 255 },
      projectId: { type: 'string', maxLength: 128 },
      department: { type: 'string', maxLength: 255 },
      q: { type: 'string', maxLength: 255, description: 'Substring of the image name (case-insensitive).' },
      sort: { type: 'string', enum: ['name', '-name', 'updated', '-updated', 'pulls', '-pulls'], default: 'name' },
      page: { type: 'integer', minimum: 1, default: 1 },
      page_size: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    },
  },
  ImageUpdate: {
    type: 'object',
    additionalProperties: false,
    required: ['description'],
    properties: { description: { type: 'string', maxLength: DESCRIPTION_MAX, description: 'Markdown, stored and returned raw.' } },
  },
  ImagesDelete: {
    type: 'object',
    additionalProperties: false,
    required: ['items'],
    properties: {
      items: {
        type: 'array',
        minItems: 1,
        maxItems: BATCH_MAX,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['workspace', 'image'],
          properties: {
            workspace: { type: 'string', minLength: 1, maxLength: 255, pattern: WORKSPACE },
            image: { type: 'string', minLength: 1, maxLength: 255, pattern: `^${COMPONENT}(?:/${COMPONENT})*$` },
          },
        },
      },
    },
  },
  ImageVersionsDelete: {
    type: 'object',
    additionalProperties: false,
    required: ['tags'],
    properties: { tags: { type: 'array', minItems: 1, maxItems: BATCH_MAX, items: { type: 'string', minLength: 1, maxLength: 128 } } },
  },
  ImageRow: {
    type: 'object',
    required: ['workspace', 'image', 'pullAddress', 'versionCount', 'latestPushAt', 'pullCount', 'sizeBytes', 'updatedAt', 'access', 'project', 'relation', 'shared'],
    properties: {
      workspace: { type: 'string' },
      image: { type: 'string', example: 'team/app' },
      pullAddress: { type: 'string', example: 'hub.ecns.io/team-a/team/app' },
      versionCount: { type: 'integer', description: 'Number of tags.' },
      latestPushAt: { type: ['string', 'null'], format: 'date-time' },
      pullCount: { type: 'integer', description: "Harbor's: manifest GETs, not HEADs; updated within ~10 s." },
      sizeBytes: { type: 'integer', description: "Sum of the image's artifact sizes as Harbor reports them." },
      updatedAt: { type: 'string', format: 'date-time', description: "Harbor's repository update time (sort=updated)." },
      access: { type: 'string', enum: ['private', 'public'] },
      project: { oneOf: [{ $ref: '#/components/schemas/Project' }, { type: 'null' }] },
      relation: { type: 'string', enum: ['manage', 'view'] },
      shared: { type: 'boolean', description: 'A public image of another project: view and pull only.' },
    },
  },
  ImagePage: {
    type: 'object',
    required: ['items', 'total', 'page', 'pageSize'],
    properties: { items: { type: 'array', items: ref('ImageRow') }, total: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' } },
  },
  ImageVersion: {
    type: 'object',
    properties: {
      tag: { type: 'string' },
      digest: { type: 'string' },
      sizeBytes: { type: 'integer' },
      pushedAt: { type: ['string', 'null'], format: 'date-time' },
      lastPulledAt: { type: ['string', 'null'], format: 'date-time' },
      os: { type: ['string', 'null'] },
      architecture: { type: ['string', 'null'] },
      kind: { type: 'string', enum: ['image', 'index'] },
      mediaType: { type: ['string', 'null'] },
      pullAddress: { type: 'string', example: 'hub.ecns.io/team-a/app:1.0' },
      pullAddressByDigest: { type: 'string' },
      children: {
        type: 'array',
        description: 'Platforms of a multi-architecture image (kind index).',
        items: {
          type: 'object',
          properties: {
            digest: { type: 'string' },
            os: { type: ['string', 'null'] },
            architecture: { type: ['string', 'null'] },
            variant: { type: ['string', 'null'] },
            sizeBytes: { type: ['integer', 'null'] },
            pullAddress: { type: 'string' },
          },
        },
      },
    },
  },
  ImageDetail: {
    allOf: [
      ref('ImageRow'),
      {
        type: 'object',
        properties: {
          description: { type: 'string', description: 'Markdown, raw.' },
          storageUsedBytes: { type: 'integer' },
          createdAt: { type: 'string', format: 'date-time' },
          versions: { type: 'array', items: ref('ImageVersion') },
          untagged: { type: 'array', items: { type: 'object', properties: { digest: { type: 'string' }, sizeBytes: { type: 'integer' }, pushedAt: { type: ['string', 'null'] } } } },
          pullCountNote: { type: 'string' },
          workspaceQuota: {
            type: 'object',
            description: "Storage quota of the image's workspace (see /workspaces/{name}/quota); null values: no quota.",
            properties: { limitBytes: { type: ['integer', 'null'] }, usedBytes: { type: 'integer' }, usedPercent: { type: ['number', 'null'] } },
            example: { limitBytes: 10737418240, usedBytes: 9878424780, usedPercent: 92 },
          },
        },
      },
    ],
  },
  BatchFailure: {
    type: 'object',
    required: ['code', 'reason'],
    properties: { code: { type: 'string', example: 'FORBIDDEN' }, reason: { type: 'string' } },
  },
  ImagesDeleted: {
    type: 'object',
    required: ['deleted', 'failed', 'note'],
    properties: {
      deleted: { type: 'array', items: { type: 'object', properties: { workspace: { type: 'string' }, image: { type: 'string' } } } },
      failed: { type: 'array', items: { allOf: [{ type: 'object', properties: { workspace: { type: 'string' }, image: { type: 'string' } } }, ref('BatchFailure')] } },
      note: { type: 'string', example: GC_NOTE },
    },
  },
  ImageVersionsDeleted: {
    type: 'object',
    required: ['workspace', 'image', 'deleted', 'failed', 'note'],
    properties: {
      workspace: { type: 'string' },
      image: { type: 'string' },
      deleted: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            tag: { type: 'string' },
            digest: { type: 'string' },
            artifactDeleted: { type: 'boolean', description: 'true when no tag was left on the artifact, so it was deleted too (GC can reclaim it).' },
          },
        },
      },
      failed: { type: 'array', items: { allOf: [{ type: 'object', properties: { tag: { type: 'string' } } }, ref('BatchFailure')] } },
      note: { type: 'string' },
    },
  },
} as const;

const wsParam = { name: 'workspace', in: 'path', required: true, schema: { type: 'string' } };
const imageParam = {
  name: 'image',
  in: 'path',
  required: true,
  description: 'Image name inside the workspace. May contain "/": send it raw (team/app) or encoded once (team%2Fapp); encode it when its last component is "versions".',
  schema: { type: 'string' },
};

export const imagePaths = {
  '/images': {
    get: {
      operationId: 'images_list',
      summary: 'Own and shared images, filtered, sorted and paged on the server (served from the image catalogue).',
      description:
        'Answered from each replica\'s image catalogue. Pushes and deletes through hubgate\'s registry front, uploads, image and version deletes and ' +
        'description edits show in the next list on every replica. Changes made directly in Harbor show later: new repositories, pull counts and ' +
        'deleted repositories after at most HUBGATE_IMAGES_CACHE_TTL_SECONDS (15 s); artifacts pushed to or deleted from an existing repository after ' +
        'at most HUBGATE_IMAGES_FULL_SYNC_SECONDS (1 h); tags added to or removed from an existing artifact after at most ' +
        'HUBGATE_IMAGES_STATS_MAX_AGE_SECONDS (1 day).',
      parameters: Object.entries(imageSchemas.ImageListQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
      responses: {
        200: { description: 'A page; the total is also in X-Total-Count.', headers: { 'X-Total-Count': { schema: { type: 'integer' } } }, content: json(ref('ImagePage')) },
        ...errors(400, 401, 502, 504),
      },
    },
    delete: {
      operationId: 'images_delete',
      summary: 'Delete several images (all their versions). Each item is reported as deleted or failed with why. Space returns after GC.',
      requestBody: { required: true, content: json(ref('ImagesDelete')) },
      responses: { 200: { description: 'Per-item results', content: json(ref('ImagesDeleted')) }, ...errors(400, 401, 502, 504) },
    },
  },
  '/workspaces/{workspace}/images/{image}': {
    parameters: [wsParam, imageParam],
    get: {
      operationId: 'images_get',
      summary: 'Image details: versions (tag, digest, size, push and pull times, OS/arch, index children), description, pull count, storage used.',
      responses: { 200: { description: 'OK', content: json(ref('ImageDetail')) }, ...errors(401, 404, 502, 504) },
    },
    patch: {
      operationId: 'images_update',
      summary: `Set the Markdown description (at most ${DESCRIPTION_MAX} characters).`,
      requestBody: { required: true, content: json(ref('ImageUpdate')) },
      responses: { 200: { description: 'OK', content: json(ref('ImageDetail')) }, ...errors(400, 401, 403, 404, 502, 504) },
    },
  },
  '/workspaces/{workspace}/images/{image}/versions': {
    parameters: [wsParam, imageParam],
    delete: {
      operationId: 'image_versions_delete',
      summary: 'Delete several versions: each tag is removed, and its artifact too when no tag is left on it. Space returns after GC.',
      requestBody: { required: true, content: json(ref('ImageVersionsDelete')) },
      responses: { 200: { description: 'Per-version results', content: json(ref('ImageVersionsDeleted')) }, ...errors(400, 401, 403, 404, 502, 504) },
    },
  },
};
