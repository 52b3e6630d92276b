/** Error responses of the OpenAPI document: Harbor's envelope, one description per status. */
export const errorRef = { $ref: '#/components/schemas/Errors' };

const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing or invalid bearer token',
  403: 'Not allowed',
  404: 'Not found (or not visible to the caller)',
  409: 'Conflict',
  413: 'Payload too large',
  422: 'Request does not match the schema',
  429: 'Too many requests (Retry-After)',
  502: 'Harbor unavailable or misconfigured',
  504: 'Harbor timed out',
};

/**
 * `responses` entries for the given statuses; `descriptions` overrides the defaults where an operation has a
 * more precise reason (e.g. "a garbage collection is already running" for 409).
 */
export function errorResponses(codes: number[], descriptions: Record<number, string> = {}) {
  return Object.fromEntries(
    codes.map((c) => [
      String(c),
      { description: descriptions[c] ?? DEFAULT_DESCRIPTIONS[c] ?? 'Error', content: { 'application/json': { schema: errorRef } } },
    ]),
  );
}
