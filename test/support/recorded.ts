import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Recorded Harbor 2.5.5 exchanges (test/fixtures/harbor, copied verbatim from
 * ../shared/harbor-2.5.5/exchanges) turned into what nock needs. Tests build their replies from these
 * files instead of writing Harbor's answers by hand.
 */
export const FIXTURES_DIR = path.resolve(__dirname, '../fixtures/harbor');
/** The original data set, beside the repository clone; may be missing (CI). */
export const SHARED_EXCHANGES_DIR = path.resolve(__dirname, '../../../shared/harbor-2.5.5/exchanges');

export interface RecordedExchange {
  file: string;
  title: string;
  request: {
    method: string;
    /** Path below `/api/v2.0`, exactly as sent (still percent-encoded), e.g. `/projects/beta/repositories/team%252Fapp`. */
    apiPath: string;
    /** Decoded query parameters. */
    query: Record<string, string>;
    headers: Record<string, string>;
    body: unknown;
  };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

/** Headers worth replaying; hop-by-hop and per-connection ones (length, cookies, dates) are left out. */
const REPLAYED_HEADERS = new Set(['content-type', 'location', 'x-total-count', 'link', 'x-request-id']);

export function recordedFile(n: number, dir = FIXTURES_DIR): string {
  const prefix = String(n).padStart(3, '0') + '-';
  const name = fs.readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
  if (!name) throw new Error(`recorded exchange ${prefix}* is not in ${dir}; copy it from ${SHARED_EXCHANGES_DIR}`);
  return path.join(dir, name);
}

export function recorded(n: number): RecordedExchange {
  const file = recordedFile(n);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  const url = new URL(raw.request.url);
  const marker = '/api/v2.0';
  const rawPath = url.pathname; // WHATWG URL keeps the percent-encoding as sent
  return {
    file: path.basename(file),
    title: raw.title,
    request: {
      method: raw.request.method,
      apiPath: rawPath.startsWith(marker) ? rawPath.slice(marker.length) : rawPath,
      query: Object.fromEntries(url.searchParams.entries()),
      headers: raw.request.headers ?? {},
      body: raw.request.body,
    },
    response: { status: raw.response.status, headers: raw.response.headers ?? {}, body: raw.response.body },
  };
}

/** The recorded JSON body (a deep copy, safe to modify). */
export function recordedBody<T = unknown>(n: number): T {
  return structuredClone(recorded(n).response.body) as T;
}

/**
 * `[status, body, headers]` for nock's `.reply(...)`: JSON bodies re-serialised with Harbor's trailing
 * newline, text bodies as text, empty bodies empty. `override` replaces the body (or headers) when a test
 * needs a variant of a recorded shape.
 */
export function recordedReply(
  n: number,
  override: { body?: unknown; headers?: Record<string, string> } = {},
): [number, string, Record<string, string>] {
  const ex = recorded(n);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(ex.response.headers)) if (REPLAYED_HEADERS.has(k.toLowerCase())) headers[k] = String(v);
  Object.assign(headers, override.headers ?? {});
  const body = 'body' in override ? override.body : ex.response.body;
  const text = body === '' || body === null || body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body) + '\n';
  return [ex.response.status, text, headers];
}
