/**
 * OpenAPI fragment for console uploads (schemas and paths), merged into src/http/openapi.ts. `UploadQuery` is
 * also the edge validator of the POST's query string.
 */
import { errorResponses } from '../openapi-errors';
const errors = (...codes: number[]) =>
  errorResponses(codes, {
    400: 'Bad archive or request: the message names the problem (not a tar, truncated, gzip bomb, unsafe path, missing manifest or blob, digest mismatch, bad name or tag …)',
    403: "Not allowed (another project's public workspace), or Harbor refused the push (quota)",
    404: 'Workspace (or upload) not found, or not visible to the caller',
    408: 'The body sent nothing for HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS (reason idle_timeout)',
    409: 'Upload id already in use, or the workspace was deleted or changed owner during the upload (reason workspace_changed), or the archive would overwrite a version protected by an immutable rule (reason immutable_version, names the rule); nothing tagged',
    413: 'Archive larger than the upload limit (declared Content-Length: before reading; streamed: cut off), an entry that is not a layer over its cap, or more spool disk than one upload may use, or more new bytes than the workspace\'s storage quota leaves (reason quota_exceeded: names the workspace, the limit and the usage; nothing tagged)',
    429: 'Too many uploads running on this replica (Retry-After)',
    503: 'hubgate is shutting down (reason shutdown; send again)',
    507: "This replica's upload disk budget or spool free space is used up (reason no_space; try again later)",
  });
const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

export const uploadSchemas = {
  UploadQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      image: { type: 'string', minLength: 1, maxLength: 255, description: 'Image (repository inside the workspace) for every image of the archive, e.g. `app` or `team/app`.' },
      tag: { type: 'string', minLength: 1, maxLength: 128, description: 'Tag to use instead of the archive\'s (archives holding one image only).' },
      uploadId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$', description: 'Client-chosen upload id, to poll progress while the POST runs (also `X-Upload-Id`).' },
    },
  },
  Upload: {
    type: 'object',
    required: ['id', 'workspace', 'state', 'bytesReceived', 'layers', 'images', 'createdAt', 'updatedAt'],
    properties: {
      id: { type: 'string' },
      workspace: { type: 'string' },
      projectId: { type: ['string', 'null'] },
      userId: { type: 'string' },
      state: { type: 'string', enum: ['receiving', 'verifying', 'pushing', 'succeeded', 'failed'] },
      bytesReceived: { type: 'integer', description: 'Archive bytes received so far.' },
      bytesDeclared: { type: ['integer', 'null'], description: 'Content-Length of a raw upload.' },
      compression: { type: 'string', enum: ['none', 'gzip', 'zstd', 'bzip2', 'xz'] },
      format: { type: 'string', enum: ['docker-save', 'oci'] },
      layers: {
        type: 'array',
        items: {
          type: 'object',
          required: ['repository', 'digest', 'size', 'label', 'state', 'bytesSent'],
          properties: {
            repository: { type: 'string' },
            digest: { type: 'string' },
            size: { type: 'integer' },
            label: { type: 'string', example: 'layer 1/3' },
            state: { type: 'string', enum: ['pending', 'uploading', 'uploaded', 'skipped'], description: 'skipped: Harbor had it already.' },
            bytesSent: { type: 'integer' },
          },
        },
      },
      images: {
        type: 'array',
        items: {
          type: 'object',
          required: ['repository', 'tag', 'digest', 'mediaType', 'pullAddress'],
          properties: {
            repository: { type: 'string', example: 'team-a/app' },
            tag: { type: 'string' },
            digest: { type: 'string' },
            mediaType: { type: 'string' },
            pullAddress: { type: 'string', example: 'hub.ecns.io/team-a/app:v1' },
          },
        },
      },
      error: {
        type: 'object',
        required: ['status', 'code', 'reason', 'message'],
        properties: { status: { type: 'integer' }, code: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' } },
      },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      replica: { type: 'string' },
    },
  },
} as const;

export const uploadPaths = {
  '/workspaces/{name}/uploads': {
    parameters: [{ name: 'name', in: 'path', required: true, description: 'Target workspace.', schema: { type: 'string' } }],
    post: {
      operationId: 'uploads_create',
      summary: 'Upload an image archive (docker save or OCI, tar or tar.gz, up to the limit) into the workspace; existing tags are overwritten.',
      parameters: Object.entries(uploadSchemas.UploadQuery.properties).map(([name, schema]) => ({ name, in: 'query', schema })),
      requestBody: {
        required: true,
        content: {
          'application/x-tar': { schema: { type: 'string', format: 'binary' } },
          'application/gzip': { schema: { type: 'string', format: 'binary' } },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
          'multipart/form-data': {
            schema: {
              type: 'object',
              description: 'One file part (the archive) and at most 16 text fields of at most 1024 bytes each; fields other than `image` and `tag` are ignored. A second file part, a 17th field or a longer value: 400 `bad_multipart`.',
              required: ['file'],
              properties: { file: { type: 'string', format: 'binary' }, image: { type: 'string', maxLength: 1024 }, tag: { type: 'string', maxLength: 1024 } },
            },
          },
        },
      },
      responses: {
        201: {
          description: 'Pushed; `images` lists every tag set. `Location` and `X-Upload-Id` name the progress record.',
          headers: { Location: { schema: { type: 'string' } }, 'X-Upload-Id': { schema: { type: 'string' } } },
          content: json(ref('Upload')),
        },
        ...errors(400, 401, 403, 404, 408, 409, 413, 429, 502, 503, 504, 507),
      },
    },
  },
  '/uploads/{id}': {
    parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    get: {
      operationId: 'uploads_get',
      summary: 'Progress of an upload (any replica): bytes received, per-layer state, result or error.',
      responses: { 200: { description: 'OK', content: json(ref('Upload')) }, ...errors(401, 404) },
    },
  },
} as const;
