/**
 * Real-Harbor test mode. When `HUBGATE_TEST_HARBOR_URL` is set, the end-to-end suites run against that Harbor
 * 2.5.5 instead of the in-process Harbor double (CI sets nothing and keeps the double):
 *
 *   HUBGATE_TEST_HARBOR_URL              Harbor core (http://127.0.0.1:8881, the Helm/ingress set-up) or its nginx
 *                                        front door (http://127.0.0.1:8880) — what hubgate gets as HARBOR_URL
 *   HUBGATE_TEST_HARBOR_ADMIN_PASSWORD   the admin password (required with the URL)
 *   HUBGATE_TEST_HARBOR_ADMIN_USERNAME   default `admin`
 *
 * `/v2` and `/service/token` go through the same URL (core serves both); Harbor's own token realm (its external
 * URL, nginx for the kit) is rewritten by hubgate, and tools that talk to Harbor directly follow it.
 *
 *   HUBGATE_TEST_HARBOR_WIPE             `owned` (default) or `all`, see below
 *
 * THE HARBOR IS CLEANED: every suite starts (and `harbor.reset()` returns) with what earlier hubgate tests left
 * deleted — every `robot$hg-…` robot hubgate made and every project such a robot holds (the suites use fixed
 * workspace names, so this is what keeps runs from colliding). Other projects stay, unless
 * HUBGATE_TEST_HARBOR_WIPE=all: then every project but `library` goes too (a fresh install, as the double is;
 * for a Harbor that exists for these tests only, e.g. a second kit instance). Do not run two test:harbor runs
 * against one Harbor at once, and keep other users' wrong admin passwords away from it: Harbor then refuses even
 * the right one for 1.5 s, and hubgate answers 502. Run `npm run test:harbor` (scripts/test-harbor.sh); tests
 * that need the double's hooks (fault injection, call log, in-memory state) are skipped there with a printed
 * reason (`doubleOnly`).
 */
import { startHarborDouble, type HarborDouble, type HarborDoubleOptions } from '../harbor-double';

export interface RealHarborSettings {
  url: string;
  adminUsername: string;
  adminPassword: string;
  /** What a suite deletes before it starts (HUBGATE_TEST_HARBOR_WIPE): `owned` (default) or `all`. */
  wipe: 'owned' | 'all';
}

function settingsFromEnv(env: NodeJS.ProcessEnv): RealHarborSettings | undefined {
  const url = env.HUBGATE_TEST_HARBOR_URL?.trim();
  if (!url) return undefined;
  const adminPassword = env.HUBGATE_TEST_HARBOR_ADMIN_PASSWORD;
  if (!adminPassword) throw new Error('HUBGATE_TEST_HARBOR_URL is set but HUBGATE_TEST_HARBOR_ADMIN_PASSWORD is not: the real-Harbor test mode needs both');
  const wipe = env.HUBGATE_TEST_HARBOR_WIPE?.trim() || 'owned';
  if (wipe !== 'owned' && wipe !== 'all') throw new Error(`HUBGATE_TEST_HARBOR_WIPE must be owned or all, not ${wipe}`);
  return { url: url.replace(/\/+$/, ''), adminUsername: env.HUBGATE_TEST_HARBOR_ADMIN_USERNAME?.trim() || 'admin', adminPassword, wipe };
}

/** The real Harbor the suites run against, or undefined (the Harbor double). */
export const REAL_HARBOR: RealHarborSettings | undefined = settingsFromEnv(process.env);

/** The banner tests print when they are skipped against a real Harbor. */
const TAG = '[real Harbor]';

/**
 * `it` normally; against a real Harbor the test is skipped and the reason printed (and put in the title, so the
 * verbose report shows it too). For tests built on the double's hooks: fault injection, the call log, its state.
 */
export function doubleOnly(reason: string): jest.It {
  if (!REAL_HARBOR) return it;
  const skip = ((name: string, fn?: jest.ProvidesCallback, timeout?: number) => {
    console.warn(`${TAG} skipping "${name}": ${reason}`);
    return it.skip(`${name} [double only: ${reason}]`, fn, timeout);
  }) as jest.It;
  return Object.assign(skip, it);
}

/** Prints that one assertion of a test that otherwise runs is not checked against a real Harbor. */
export function notChecked(what: string, reason: string): void {
  console.warn(`${TAG} not checked: ${what} (${reason})`);
}

// ------------------------------------------------------------------ admin REST client

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Harbor's JSON, read field by field
  json: any;
}

/** Harbor's REST path segment for a repository name inside a project: `/` double-encoded (works on core and nginx). */
const repoSegment = (repoInProject: string) => encodeURIComponent(repoInProject).replace(/%2F/g, '%252F');

/** The few admin REST calls the suites need to look at (and clean) a real Harbor. */
export class RealHarborAdmin {
  constructor(readonly settings: RealHarborSettings) {}

  /**
   * One REST call as admin. A 401 is retried after 2 s, twice: after a wrong password for a user (a test does that on
   * purpose), Harbor refuses even the right one for 1.5 s (its login lock).
   */
  async call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.once(method, p, body, headers);
      if (r.status !== 401 || attempt >= 2) return r;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  private async once(method: string, p: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
    const auth = Buffer.from(`${this.settings.adminUsername}:${this.settings.adminPassword}`).toString('base64');
    const res = await fetch(`${this.settings.url}/api/v2.0${p}`, {
      method,
      headers: { Authorization: `Basic ${auth}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  private async must(method: string, p: string, ok: number[] = [200]): Promise<Answer> {
    const r = await this.call(method, p);
    if (!ok.includes(r.status)) throw new Error(`real Harbor: ${method} ${p} → ${r.status} ${r.text.slice(0, 300)}`);
    return r;
  }

  /** Every page of a list endpoint. */
  private async all<T>(p: string): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const r = await this.must('GET', `${p}${p.includes('?') ? '&' : '?'}page=${page}&page_size=100`);
      const items = (r.json ?? []) as T[];
      out.push(...items);
      if (items.length < 100) return out;
    }
  }

  /** Reachable, right version, and the admin password works. */
  async check(): Promise<string> {
    const info = await this.call('GET', '/systeminfo').catch((e: unknown) => {
      throw new Error(`real Harbor at ${this.settings.url} is not reachable: ${String(e)}`);
    });
    if (info.status !== 200) throw new Error(`real Harbor at ${this.settings.url}: GET /api/v2.0/systeminfo → ${info.status}`);
    const me = await this.call('GET', '/users/current');
    if (me.status !== 200) throw new Error(`real Harbor at ${this.settings.url} refuses ${this.settings.adminUsername}'s password (GET /users/current → ${me.status})`);
    return String(info.json?.harbor_version ?? 'unknown version');
  }

  /** The project by name, or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Harbor's project JSON
  async project(name: string): Promise<any> {
    const r = await this.call('GET', `/projects/${encodeURIComponent(name)}`, undefined, { 'X-Is-Resource-Name': 'true' });
    if (r.status === 404 || r.status === 403) return undefined;
    if (r.status !== 200) throw new Error(`real Harbor: GET /projects/${name} → ${r.status} ${r.text.slice(0, 300)}`);
    return r.json;
  }

  /** Tag names of a repository (`project/repo/…`), sorted; [] when there is no such repository. */
  async tagsOf(repository: string): Promise<string[]> {
    const [project, ...rest] = repository.split('/');
    const p = `/projects/${encodeURIComponent(project)}/repositories/${repoSegment(rest.join('/'))}/artifacts?with_tag=true`;
    const first = await this.call('GET', `${p}&page_size=1`);
    if (first.status === 404) return [];
    const artifacts = await this.all<{ tags?: { name: string }[] | null }>(p);
    return artifacts.flatMap((a) => (a.tags ?? []).map((t) => t.name)).sort();
  }

  /** Repository names (`project/repo/…`) of a project; [] when there is no such project. */
  async repositories(project: string): Promise<string[]> {
    const first = await this.call('GET', `/projects/${encodeURIComponent(project)}/repositories?page_size=1`);
    if (first.status === 404 || first.status === 403) return [];
    return (await this.all<{ name: string }>(`/projects/${encodeURIComponent(project)}/repositories`)).map((r) => r.name);
  }

  /**
   * Deletes what earlier hubgate tests left: every system robot `robot$<usernamePrefix>…` that hubgate made
   * (description `hubgate:…`), and every project such a robot holds (with its repositories). With
   * `scope: 'all'` (HUBGATE_TEST_HARBOR_WIPE=all), every project but `library` too — a fresh install as far as
   * hubgate can tell; only for a Harbor nobody else uses. Blobs stay in storage until a GC.
   */
  async wipe(scope: 'owned' | 'all' = REAL_HARBOR?.wipe ?? 'owned', usernamePrefix = 'hg-'): Promise<{ projects: string[]; robots: string[] }> {
    interface Robot {
      id: number;
      name: string;
      description?: string;
      permissions?: { kind: string; namespace: string }[];
    }
    const robots = (await this.all<Robot>('/robots')).filter((r) => r.name.includes(`$${usernamePrefix}`) && (r.description ?? '').startsWith('hubgate:'));
    const held = new Set(robots.flatMap((r) => (r.permissions ?? []).filter((p) => p.kind === 'project').map((p) => p.namespace)));
    const projects = (await this.all<{ project_id: number; name: string }>('/projects')).filter((p) => p.name !== 'library' && (scope === 'all' || held.has(p.name)));
    for (const project of projects) {
      for (const repo of await this.repositories(project.name)) {
        const inProject = repo.slice(project.name.length + 1);
        await this.must('DELETE', `/projects/${encodeURIComponent(project.name)}/repositories/${repoSegment(inProject)}`, [200, 404]);
      }
      await this.must('DELETE', `/projects/${project.project_id}`, [200, 404]);
    }
    for (const r of robots) await this.must('DELETE', `/robots/${r.id}`, [200, 404]);
    return { projects: projects.map((p) => p.name), robots: robots.map((r) => r.name) };
  }
}

/** The double's data hooks: undefined against a real Harbor (so `harbor.calls ?? …` can tell the two apart). */
const DATA_HOOKS = new Set(['state', 'calls']);
/** Members that `await`, Jest and util.inspect probe on any object: absent, not an error. */
const INTROSPECTION = new Set(['then', 'toJSON', 'asymmetricMatch', 'nodeType', 'constructor', 'inspect', 'tagName', 'length']);

/**
 * The real Harbor, wiped, in the shape of a Harbor double: `url`, `port`, `reset()` (wipe again) and `close()`
 * work; `state` and `calls` are undefined; every other member (`failNext`, `clearCalls`, …) throws an error
 * naming the double-only hook, so a test that reaches one without `doubleOnly` fails loudly instead of testing
 * nothing.
 */
export async function connectRealHarbor(settings: RealHarborSettings = REAL_HARBOR!): Promise<HarborDouble & { admin: RealHarborAdmin }> {
  const admin = new RealHarborAdmin(settings);
  await admin.check();
  await admin.wipe();
  const u = new URL(settings.url);
  const target = {
    url: settings.url,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    admin,
    async reset() {
      await admin.wipe();
    },
    async close() {},
  };
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (typeof prop === 'symbol' || prop in t) return Reflect.get(t, prop, receiver) as unknown;
      if (INTROSPECTION.has(prop) || DATA_HOOKS.has(prop) || prop.startsWith('$$') || prop.startsWith('@@')) return undefined;
      throw new Error(`harbor.${prop} is a Harbor-double hook: not available against the real Harbor at ${settings.url} (mark the test doubleOnly)`);
    },
  }) as unknown as HarborDouble & { admin: RealHarborAdmin };
}

/** For suites that start their own Harbor: the double (with `opts`), or the real Harbor, wiped, in real-Harbor mode. */
export async function startTestHarbor(opts: HarborDoubleOptions = {}): Promise<HarborDouble> {
  return REAL_HARBOR ? connectRealHarbor() : startHarborDouble(opts);
}

/** The real Harbor's admin client in real-Harbor mode, else undefined (use the double's state). */
export const realAdmin: RealHarborAdmin | undefined = REAL_HARBOR ? new RealHarborAdmin(REAL_HARBOR) : undefined;
