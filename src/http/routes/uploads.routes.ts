import { Router, type Request, type Response } from 'express';
import busboy from 'busboy';
import type { Readable } from 'node:stream';
import { AppError } from '../../domain/errors';
import { ArchiveError } from '../../domain/uploads/archive-error';
import type { UploadsService } from '../../domain/uploads.service';
import type { UploadRecord } from '../../domain/uploads/progress';
import type { Overrides } from '../../domain/uploads/archive';
import { ERROR_TABLE } from '../errors';
import { op } from '../middleware/observe';
import { principalOf } from '../middleware/authn';
import { validate, validQuery } from '../validate';

/** Room for multipart framing and text fields on top of the archive limit when checking Content-Length. */
const MULTIPART_SLACK = 1024 * 1024;

/** The record as the API shows it: the error with its HTTP status and Harbor-style code. */
export function presentUpload(rec: UploadRecord) {
  const { error, ...rest } = rec;
  if (!error) return rest;
  const { status, code } = ERROR_TABLE[error.kind];
  return { ...rest, error: { status, code, reason: error.reason, message: error.message } };
}

/**
 * `POST /workspaces/{name}/uploads` — the body is the archive (any content type but multipart: detected by
 * content), or a multipart form with one file part plus optional `image` / `tag` fields. The permission and the
 * declared length are checked before a byte is read (and before `100 Continue` is sent); the body is streamed.
 * `GET /uploads/{id}` — progress, from any replica.
 */
export function uploadsRoutes(uploads: UploadsService): Router {
  const r = Router();

  r.post('/workspaces/:name/uploads', op('uploads_create'), validate({ query: 'UploadQuery' }), async (req, res) => {
    const p = principalOf(req);
    const workspace = req.params.name as string;
    const q = validQuery<{ image?: string; tag?: string; uploadId?: string }>(req);
    const multipart = req.is('multipart/form-data') === 'multipart/form-data';
    if (req.is('application/json') || req.is('application/x-www-form-urlencoded')) {
      throw new AppError('invalid', 'send the archive as the raw body (application/x-tar, application/gzip, application/octet-stream) or as multipart/form-data');
    }
    const { projectId, harborProjectId } = await uploads.authorize(p, workspace);
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    try {
      uploads.checkDeclaredLength(declared, multipart ? MULTIPART_SLACK : 0);
    } catch (e) {
      res.setHeader('Connection', 'close');
      throw e;
    }
    const handle = await uploads.start(p, workspace, {
      id: q.uploadId ?? headerId(req),
      projectId,
      harborProjectId,
      declaredBytes: multipart ? undefined : declared,
    });
    // From here the upload holds a slot: every way out settles it (run() does, and fail() for anything else).
    // The client going away aborts all of its work at once.
    const gone = () => {
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (the response ends only once run() or fail() has settled the upload, and abort() on a settled upload does nothing); 'false' is killed by the client-gone tests
      if (!res.writableEnded) handle.abort(new ArchiveError('interrupted', 'the upload was interrupted: the client closed the connection'));
    };
    res.once('close', gone);
    if (res.closed || req.socket.destroyed) gone(); // gone already while the permission was checked
    try {
      res.setHeader('X-Upload-Id', handle.record.id);
      res.setHeader('Location', `${req.baseUrl}/uploads/${handle.record.id}`);
      // the client may send the body now (Expect: 100-continue was held back by the server)
      if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
      const fields: Overrides = {};
      const body = () => (multipart ? multipartArchive(req, fields) : (req as AsyncIterable<Buffer>));
      const rec = await uploads.run(handle, body, () => ({ image: q.image ?? fields.image, tag: q.tag ?? fields.tag }));
      res.status(201).json(presentUpload(rec));
    } catch (e) {
      await uploads.fail(handle, e);
      stopReading(req, res);
      throw e;
    } finally {
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (after a failure fail() has settled the upload, so gone() would do nothing later either); 'false' is killed by the close-listener test
      if (res.writableEnded) res.off('close', gone);
    }
  });

  r.get('/uploads/:id', op('uploads_get'), async (req, res) => {
    const rec = await uploads.get(principalOf(req), req.params.id as string);
    res.setHeader('Cache-Control', 'no-store');
    res.json(presentUpload(rec));
  });

  return r;
}

function headerId(req: Request): string | undefined {
  const v = req.header('x-upload-id');
  return v || undefined;
}

/**
 * After a failure while the client may still be sending: answer with `Connection: close`, discard what is still
 * in flight so the client can read the answer, and drop the connection shortly after.
 */
function stopReading(req: Request, res: Response): void {
  if (req.complete) return;
  res.setHeader('Connection', 'close');
  res.once('finish', () => {
    req.unpipe(); // a multipart parser must not buffer what is discarded
    req.resume();
    setTimeout(() => req.socket.destroy(), 2000).unref();
  });
}

/** At most this many text fields in a multipart upload, each at most `FORM_FIELD_BYTES` long. */
const FORM_FIELDS = 16;
const FORM_FIELD_BYTES = 1024;

/** The file part of a multipart body as a stream of buffers; text fields `image` and `tag` land in `fields`. */
function multipartArchive(req: Request, fields: Overrides): AsyncIterable<Buffer> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers, limits: { files: 1, fields: FORM_FIELDS, fieldSize: FORM_FIELD_BYTES + 1 } }); // busboy calls a value of exactly `fieldSize` truncated
  } catch (e) {
    throw new ArchiveError('bad_multipart', `malformed multipart request: ${(e as Error).message}`);
  }
  // Past a limit busboy skips the rest of a part or the parts themselves without a word: the form is refused
  // instead, so that an archive, an image name or a tag is never silently dropped or cut short.
  let refuse!: (message: string) => void; // set by the executor below, which runs at once
  const closed = new Promise<void>((resolve, reject) => {
    refuse = (message) => reject(new ArchiveError('bad_multipart', message));
    bb.once('close', resolve);
    bb.once('error', (e: Error) => refuse(`malformed multipart body: ${e.message}`));
  });
  bb.once('filesLimit', () => refuse('the multipart body has more than one file part (send one archive)'));
  bb.once('fieldsLimit', () => refuse(`the multipart body has more than ${FORM_FIELDS} fields`));
  closed.catch(() => undefined);
  const file = new Promise<Readable>((resolve, reject) => {
    bb.on('file', (_name, stream) => {
      // A form that ends inside the file part makes busboy destroy the part with an error, maybe before the
      // archive reader listens to it: without a listener that error would be thrown and end the process. The
      // reader gets it from the part, and `closed` has busboy's own error for it.
      stream.on('error', () => undefined);
      resolve(stream);
    });
    closed.then(() => reject(new ArchiveError('bad_multipart', 'the multipart body has no file part (send the archive as a file field)')), reject);
  });
  file.catch(() => undefined);
  bb.on('field', (name, value, info) => {
    if (info.valueTruncated) refuse(`the multipart field ${JSON.stringify(name)} is longer than ${FORM_FIELD_BYTES} bytes`);
    else if (name === 'image' || name === 'tag') fields[name] = value;
  });
  req.pipe(bb);
  return (async function* () {
    const stream = await file;
    // A 'next-line' mark does not reach a catch clause (the comment belongs to the try block), hence the range.
    // Stryker disable BlockStatement: the catch's '{}' is equivalent, an error of the file part always comes with busboy's own error, which the `await closed` after it throws anyway; the try's '{}' (no archive read) fails every multipart test
    try {
      for await (const c of stream as AsyncIterable<Buffer>) yield c;
    } catch (e) {
      await closed; // busboy's own error (bad_multipart) says what is wrong; the part's says only that it ended
      throw e;
    }
    // Stryker restore BlockStatement
    await closed;
  })();
}
