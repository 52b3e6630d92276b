import { ImageCatalog, type CatalogDeps, type CatalogRepo, type SyncKind } from '../../../src/domain/images.catalog';
import type { HarborRepository, ListQuery } from '../../../src/ports/harbor';
import { createInProcessChangeFeed } from '../../../adapters/redis/change.feed';
import { FakeHarbor } from '../../support/fake-harbor';
import { captureLogger } from '../../support/capture-logger';

/**
 * A catalogue over a FakeHarbor with an injected clock, for the catalogue's unit tests (catalog.sync.test.ts,
 * catalog.rules.test.ts). Importing it stops every catalogue made by rig() after each test.
 */
export const T0 = Date.parse('2026-06-01T12:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const byName = (a: CatalogRepo, b: CatalogRepo) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const made: ImageCatalog[] = [];
afterEach(() => {
  for (const c of made.splice(0)) c.stop();
});

/** Adds `project/image` to Harbor (one artifact per entry of `tags`), last updated at `at`. */
export function put(h: FakeHarbor, project: string, image: string, at: number, tags: string[][] = [['1']]): HarborRepository {
  const r = h.addImage(project, image, tags.map((t) => ({ tags: t, pushTime: iso(at) })));
  r.update_time = iso(at);
  return r;
}

/** Removes `project/image` from Harbor's state (a delete made directly in Harbor). */
export function drop(h: FakeHarbor, project: string, image: string): void {
  h.repos.set(project, (h.repos.get(project) ?? []).filter((r) => r.name !== `${project}/${image}`));
}

export const repo = (h: FakeHarbor, name: string): HarborRepository => [...h.repos.values()].flat().find((r) => r.name === name)!;

/** Runs queued callbacks and promise chains a few times over (background work of a Harbor that answers at once). */
export const idle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
export async function waitFor(ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('condition not reached');
}

/** Makes `method` answer (Harbor has read its state) and then wait until the returned function is called. */
export function hold(h: FakeHarbor, method: 'listRepositoriesAll' | 'listRepositoriesInIdRange' | 'listAllRepositories' | 'listArtifacts', when: (arg: unknown) => boolean = () => true) {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const original = (h[method] as (...args: unknown[]) => Promise<unknown>).bind(h);
  Object.assign(h, {
    [method]: async (...args: unknown[]) => {
      const out = await original(...args);
      if (when(args[0])) await held;
      return out;
    },
  });
  return release;
}

/**
 * A FakeHarbor with projects ws-a (app, tool) and ws-b (one, two) unless told otherwise, all updated at T0, whose
 * projects carry their repository count (omitted when 0, as the port allows); a catalogue over it (delta sync every
 * 60 s, no re-walk, no stats expiry) with a clock, a captured logger and the syncs it reports.
 */
export async function rig(deps: Partial<CatalogDeps> = {}, repos: Record<string, string[]> = { 'ws-a': ['app', 'tool'], 'ws-b': ['one', 'two'] }) {
  const harbor = new FakeHarbor();
  for (const [project, images] of Object.entries(repos)) {
    await harbor.createProject({ name: project, public: false });
    for (const image of images) put(harbor, project, image, T0);
  }
  const listAllProjects = harbor.listAllProjects.bind(harbor);
  harbor.listAllProjects = async () =>
    (await listAllProjects()).map((p) => {
      const n = (harbor.repos.get(p.name) ?? []).length;
      return { ...p, repo_count: n > 0 ? n : undefined };
    });
  harbor.calls = [];
  const clock = { ms: T0 };
  const logger = captureLogger();
  const syncs: [SyncKind, number][] = [];
  const feed = createInProcessChangeFeed();
  const catalog = new ImageCatalog({
    harbor,
    feed,
    logger,
    syncSeconds: 60,
    fullSyncSeconds: 0,
    statsMaxAgeSeconds: 0,
    concurrency: 4,
    fillConcurrency: 2,
    onSync: (kind, n) => void syncs.push([kind, n]),
    now: () => clock.ms,
    ...deps,
  });
  made.push(catalog);
  const everything = () => new Set([...harbor.projects.values()].map((p) => p.project_id));
  /** The catalogue's rows by name: pull count, artifact count, update time. */
  const view = async () =>
    Object.fromEntries((await catalog.repositories(everything(), byName, 'name')).map((r) => [r.name, [r.pullCount, r.artifactCount, r.updateTime]]));
  const names = async () => (await catalog.repositories(everything(), byName, 'name')).map((r) => r.name);
  const at = (ms: number) => void (clock.ms = T0 + ms);
  return { harbor, catalog, feed, logger, syncs, clock, at, view, names, everything };
}

export const deltaQuery = (q: unknown) => typeof (q as ListQuery | undefined)?.q === 'string' && (q as ListQuery).q!.startsWith('update_time=');
export const WALK_HEAD = { sort: '-repository_id', page: 1, pageSize: 1 };
export const COUNT = { page: 1, pageSize: 1 };
export const delta = (since: string, page = 1) => ({ q: `update_time=[${since}~]`, sort: '-update_time', page, pageSize: 100 });
