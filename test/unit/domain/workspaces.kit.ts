/**
 * What the workspace service tests share: platform principals, one hubgate replica's services (its own in-process
 * coordination and credentials; one FakeHarbor for all replicas), and the catalogue as one principal lists it.
 */
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import type { Principal } from '../../../src/domain/principal';
import { silentLogger, type Logger } from '../../../src/observability/logger';
import type { Cache } from '../../../src/ports/coordination';
import type { ChangeFeed } from '../../../src/ports/changes';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import type { FakeHarbor } from '../../support/fake-harbor';

export const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
export const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
export const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [teamA] };
export const bob: Principal = { userId: 'u-bob', username: 'bob', isCloudAdmin: false, projects: [teamB] };
export const admin: Principal = { userId: 'u-admin', username: 'root', isCloudAdmin: true, projects: [] };
/** No shared copy: each replica keeps only its own catalogue (what is left while Redis's cache holds nothing). */
export const noCache: Cache = { get: async () => undefined, set: async () => undefined, del: async () => undefined };

/**
 * One hubgate replica over `harbor`: its in-process coordination (also its shared cache unless `cache` is given),
 * its credentials and its workspace service (catalogue cached `ttlSeconds`, default 5).
 */
export function services(harbor: FakeHarbor, o: { feed?: ChangeFeed; cache?: Cache; logger?: Logger; ttlSeconds?: number } = {}) {
  const coordination = createInProcessCoordination();
  const credentials = new CredentialsService({ harbor, coordination, logger: silentLogger, secret: 'x'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({
    harbor,
    credentials,
    coordination,
    cache: o.cache ?? coordination,
    feed: o.feed,
    logger: o.logger ?? silentLogger,
    registryHost: 'hub.example.test',
    reserved: ['library'],
    catalogTtlSeconds: o.ttlSeconds ?? 5,
  });
  return { harbor, coordination, credentials, workspaces };
}

/** A replica's workspace service with no shared copy of the catalogue (noCache), kept 300 s unless said. */
export const replica = (harbor: FakeHarbor, o: Parameters<typeof services>[1] = {}): WorkspacesService =>
  services(harbor, { cache: noCache, ttlSeconds: 300, ...o }).workspaces;

/** The catalogue as `p` (default: a cloud admin) lists it, `name:access`, Harbor's own `library` left out. */
export const names = async (ws: WorkspacesService, p: Principal = admin) =>
  (await ws.list(p, { page: 1, pageSize: 100 })).items.filter((w) => w.name !== 'library').map((w) => `${w.name}:${w.access}`);
/** How many times `op` was called on the FakeHarbor. */
export const count = (harbor: FakeHarbor, op: string) => harbor.calls.filter((c) => c === op).length;
