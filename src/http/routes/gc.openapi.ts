/** OpenAPI fragment for garbage collection, merged into src/http/openapi.ts. */
import { errorResponses } from '../openapi-errors';
import { gcWindowNote } from '../../domain/gc.service';

const errors = (...codes: number[]) =>
  errorResponses(codes, { 403: 'Cloud administrators only (see HUBGATE_GC_ALLOW_MEMBERS)', 404: 'No such run', 409: 'A garbage collection is already running' });
const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer' } };

export const gcSchemas = {
  GcStart: {
    type: 'object',
    additionalProperties: false,
    properties: {
      dryRun: { type: 'boolean', default: false, description: 'Only report what would be deleted.' },
      deleteUntagged: { type: 'boolean', default: true, description: 'Also delete artifacts without a tag (e.g. the old image of an overwritten version).' },
    },
  },
  GcListQuery: {
    type: 'object',
    additionalProperties: false,
    properties: { page: { type: 'integer', minimum: 1, default: 1 }, page_size: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
  },
  GcRun: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      status: { type: 'string', enum: ['Pending', 'Running', 'Success', 'Error', 'Stopped'] },
      dryRun: { type: 'boolean' },
      deleteUntagged: { type: 'boolean' },
      trigger: { type: 'string', enum: ['manual', 'schedule'] },
      safetyWindowHours: { type: 'number', description: "Harbor's GC time window: only what was deleted longer ago than this is collected." },
      startedAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: ['string', 'null'], format: 'date-time' },
    },
  },
  GcRunDetail: {
    allOf: [
      ref('GcRun'),
      {
        type: 'object',
        properties: {
          result: {
            oneOf: [
              { type: 'null' },
              {
                type: 'object',
                properties: {
                  kind: { type: 'string', enum: ['freed', 'would_free'] },
                  freedBytes: { type: ['integer', 'null'], description: "From Harbor's log, whole MB (a lower bound)." },
                  blobs: { type: ['integer', 'null'] },
                  manifests: { type: ['integer', 'null'] },
                },
              },
            ],
          },
          note: { type: 'string', example: gcWindowNote(2) },
        },
      },
    ],
  },
  GcPage: {
    type: 'object',
    properties: {
      items: { type: 'array', items: ref('GcRun') },
      total: { type: 'integer' },
      page: { type: 'integer' },
      pageSize: { type: 'integer' },
      running: { type: 'boolean' },
      note: { type: 'string' },
    },
  },
} as const;

export const gcPaths = {
  '/gc': {
    post: {
      operationId: 'gc_start',
      summary: "Start a garbage collection (optionally a dry run). 409 while one runs. Harbor's safety window applies (see note).",
      requestBody: { required: false, content: json(ref('GcStart')) },
      responses: {
        202: { description: 'Started', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('GcRunDetail')) },
        ...errors(400, 401, 403, 409, 502, 504),
      },
    },
    get: {
      operationId: 'gc_list',
      summary: 'GC history, newest first, and whether one is running.',
      parameters: Object.entries(gcSchemas.GcListQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
      responses: { 200: { description: 'OK', content: json(ref('GcPage')) }, ...errors(400, 401, 403, 502, 504) },
    },
  },
  '/gc/{id}': {
    parameters: [idParam],
    get: {
      operationId: 'gc_get',
      summary: "Status of one run; once finished, freed space parsed from Harbor's log.",
      responses: { 200: { description: 'OK', content: json(ref('GcRunDetail')) }, ...errors(401, 403, 404, 502, 504) },
    },
  },
  '/gc/{id}/log': {
    parameters: [idParam],
    get: {
      operationId: 'gc_log',
      summary: "Harbor's job log (text). Members see other projects' repository names masked.",
      responses: { 200: { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401, 403, 404, 502, 504) },
    },
  },
};
