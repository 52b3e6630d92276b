import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import { ImagesService, type ImagesDeps } from '../../../src/domain/images.service';
import { GcService } from '../../../src/domain/gc.service';
import type { Principal } from '../../../src/domain/principal';
import type { Cache, Coordination } from '../../../src/ports/coordination';
import { silentLogger, type Logger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { createInProcessChangeFeed } from '../../../adapters/redis/change.feed';
import type { ChangeFeed } from '../../../src/ports/changes';

export const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
export const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
export const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [teamA] };
export const bob: Principal = { userId: 'u-bob', username: 'bob', isCloudAdmin: false, projects: [teamB] };
export const root: Principal = { userId: 'u-root', username: 'root', isCloudAdmin: true, projects: [] };
export const REGISTRY = 'hub.example.test';

/** A cache whose backend is down: every read misses, writes vanish (what the Redis coordination does in an outage). */
export const downCache: Cache = { get: async () => undefined, set: async () => undefined, del: async () => undefined };

export interface World {
  harbor: FakeHarbor;
  workspaces: WorkspacesService;
  images: ImagesService;
  gc: GcService;
  coordination: Coordination & Cache;
  metrics: ReturnType<typeof createMetrics>;
}

/**
 * Workspaces: a-private (team A, private), a-public (team A, public), b-public (team B, public),
 * b-private (team B, private); plus Harbor's own `library` (no owner).
 */
export async function world(
  opts: {
    cache?: Cache;
    feed?: ChangeFeed;
    ttlSeconds?: number;
    allowMembers?: boolean;
    concurrency?: number;
    logger?: Logger;
    immutableRule?: ImagesDeps['immutableRule'];
    /** The image catalogue's clock (default: the real one). */
    now?: () => number;
    onSync?: ImagesDeps['onSync'];
  } = {},
): Promise<World> {
  const harbor = new FakeHarbor();
  const coordination = createInProcessCoordination();
  const metrics = createMetrics({ defaultMetrics: false });
  const credentials = new CredentialsService({ harbor, coordination, logger: silentLogger, metrics, secret: 'k'.repeat(40), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({
    harbor,
    credentials,
    coordination,
    cache: coordination,
    logger: silentLogger,
    registryHost: REGISTRY,
    reserved: ['library'],
    catalogTtlSeconds: 5,
  });
  await workspaces.create(alice, { name: 'a-private', projectId: teamA.id, access: 'private' });
  await workspaces.create(alice, { name: 'a-public', projectId: teamA.id, access: 'public' });
  await workspaces.create(bob, { name: 'b-public', projectId: teamB.id, access: 'public' });
  await workspaces.create(bob, { name: 'b-private', projectId: teamB.id, access: 'private' });
  const images = new ImagesService({
    harbor,
    workspaces,
    cache: opts.cache ?? coordination,
    feed: opts.feed ?? createInProcessChangeFeed(),
    logger: opts.logger ?? silentLogger,
    registryHost: REGISTRY,
    cacheTtlSeconds: opts.ttlSeconds ?? 60,
    harborConcurrency: opts.concurrency ?? 8,
    immutableRule: opts.immutableRule,
    now: opts.now,
    onSync: opts.onSync,
  });
  const gc = new GcService({
    harbor,
    coordination,
    logger: silentLogger,
    metrics,
    allowMembers: opts.allowMembers ?? false,
    defaultWindowHours: 2,
    visibleWorkspaces: async (p) => new Set((await workspaces.list(p, { page: 1, pageSize: 10_000 })).items.map((w) => w.name)),
  });
  return { harbor, workspaces, images, gc, coordination, metrics };
}

/** A few images in every workspace. */
export function seed(h: FakeHarbor): void {
  h.addImage('a-private', 'app', [
    { tags: ['v2'], size: 300, pushTime: '2026-01-03T00:00:00.000Z' },
    { tags: ['v1', 'stable'], size: 200, pushTime: '2026-01-02T00:00:00.000Z', pullCount: 5 },
  ]);
  h.addImage('a-private', 'team/tool', [{ tags: ['1.0'], size: 50, pushTime: '2026-01-01T00:00:00.000Z' }]);
  h.addImage('a-public', 'web', [{ tags: ['latest'], size: 70, pullCount: 9 }]);
  h.addImage('b-public', 'base', [
    {
      tags: ['multi'],
      size: 400,
      children: [
        { digest: `sha256:${'a'.repeat(64)}`, os: 'linux', arch: 'amd64', size: 150 },
        { digest: `sha256:${'b'.repeat(64)}`, os: 'linux', arch: 'arm64', size: 160 },
      ],
    },
  ]);
  h.addImage('b-private', 'secret', [{ tags: ['x'], size: 10 }]);
  h.addImage('library', 'hello', [{ tags: ['latest'], size: 1 }]);
}
