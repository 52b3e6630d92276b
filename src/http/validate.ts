import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { RequestHandler } from 'express';
import { AppError } from '../domain/errors';
import { schemas } from './openapi';

/** Schema validation at the edge, with the schemas of the OpenAPI document. */
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: false });
addFormats(ajv);
const ajvQuery = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false });
addFormats(ajvQuery);

const describe = (where: string, errors: ErrorObject[] | null | undefined): string =>
  // Stryker disable next-line ArrayDeclaration: equivalent, ajv sets `errors` whenever a schema fails, so the fallback is never used
  (errors ?? [])
    .slice(0, 5)
    .map((e) => {
      const at = `${where}${e.instancePath.replace(/\//g, '.')}`;
      if (e.keyword === 'additionalProperties') return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
      return `${at} ${e.message}`;
    })
    .join('; ');

type SchemaName = keyof typeof schemas;

export function validate(parts: { body?: SchemaName; query?: SchemaName }): RequestHandler {
  const body = parts.body && ajv.compile({ ...schemas[parts.body], $id: undefined });
  const query = parts.query && ajvQuery.compile(schemas[parts.query]);
  return (req, _res, next) => {
    if (body) {
      if (!req.is('application/json') || req.body === undefined) return next(new AppError('invalid', 'request body must be JSON (Content-Type: application/json)'));
      if (!body(req.body)) return next(new AppError('invalid', describe('body', body.errors)));
    }
    if (query) {
      const q = { ...(req.query as Record<string, unknown>) };
      if (!query(q)) return next(new AppError('invalid', describe('query', query.errors)));
      (req as unknown as { validQuery: Record<string, unknown> }).validQuery = q;
    }
    next();
  };
}

export const validQuery = <T>(req: unknown): T => (req as { validQuery: T }).validQuery;
