import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError, conflict, notFound } from './errors';
import type { PlatformProject } from './principal';
import { registryUsername } from './names';
import type { HarborPort, HarborRobot, RobotPermission } from '../ports/harbor';
import type { Coordination } from '../ports/coordination';
import type { Logger } from '../observability/logger';
import { registerSecret } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

/**
 * Per-project registry credentials, kept in Harbor itself so they survive restarts and work from any replica
 * without Redis:
 * - one system-level Harbor robot per platform project, named `<robot prefix><username>`;
 * - its permission list is the set of workspaces (Harbor projects) the platform project owns;
 * - its description carries a marker `hubgate:{...}` with the project's id, name, department and the
 *   credential generation; the password is HMAC(credential secret, robot name, robot id, generation), so any
 *   replica can show it, and rotating means bumping the generation and setting the new secret in Harbor.
 * Every robot change is a read-modify-write of the whole robot (Harbor's PUT replaces everything and has no
 * version check), done under a per-robot lock and verified by reading back.
 */
export interface RobotMarker {
  v: 1;
  project: string;
  name: string;
  department: string;
  gen: number;
  /** The secret for `gen` has not been confirmed set in Harbor yet; the next touch sets it. */
  pending?: boolean;
}

const MARKER_PREFIX = 'hubgate:';

export const WORKSPACE_ACCESS: RobotPermission['access'] = [
  { resource: 'repository', action: 'pull' },
  { resource: 'repository', action: 'push' },
  { resource: 'repository', action: 'delete' },
  { resource: 'repository', action: 'read' },
  { resource: 'repository', action: 'list' },
  { resource: 'artifact', action: 'read' },
  { resource: 'artifact', action: 'list' },
  { resource: 'artifact', action: 'delete' },
  { resource: 'tag', action: 'create' },
  { resource: 'tag', action: 'delete' },
  { resource: 'tag', action: 'list' },
];

export function parseMarker(description: string | undefined): RobotMarker | undefined {
  if (!description?.startsWith(MARKER_PREFIX)) return undefined;
  try {
    const m = JSON.parse(description.slice(MARKER_PREFIX.length)) as RobotMarker;
    return m && m.v === 1 && typeof m.project === 'string' && Number.isInteger(m.gen) ? m : undefined;
  } catch {
    return undefined;
  }
}

export const formatMarker = (m: RobotMarker): string => MARKER_PREFIX + JSON.stringify(m);

export interface CredentialsDeps {
  harbor: HarborPort;
  coordination: Coordination;
  logger: Logger;
  metrics?: Metrics;
  /** HMAC key for password derivation. */
  secret: string;
  usernamePrefix: string;
  robotPrefix: string;
  /** Wait this long and verify again when locks do not span replicas (Redis down). */
  settleMs?: number;
}

export interface ProjectCredentials {
  username: string;
  password: string;
  /** Workspaces the credentials can push to. */
  workspaces: string[];
}

/** An owner record as read from Harbor: which platform project owns which workspaces. */
export interface OwnerRecord {
  robotId: number;
  username: string;
  project: PlatformProject;
  workspaces: string[];
}

const MAX_ATTEMPTS = 6;

export class CredentialsService {
  constructor(private readonly deps: CredentialsDeps) {}

  usernameFor(projectId: string): string {
    return registryUsername(this.deps.usernamePrefix, projectId);
  }

  /** Harbor robot name (with Harbor's prefix) for a registry username. */
  robotNameFor(username: string): string {
    return this.deps.robotPrefix + username;
  }

  derivePassword(robot: Pick<HarborRobot, 'id' | 'name'>, gen: number): string {
    const mac = createHmac('sha256', this.deps.secret).update(`${robot.name}\n${robot.id}\n${gen}`).digest();
    // Base62, 32 characters, plus one of each class Harbor's secret policy requires (upper, lower, digit).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let n = BigInt('0x' + mac.toString('hex'));
    let out = '';
    for (let i = 0; i < 32; i++) {
      out += alphabet[Number(n % 62n)];
      n /= 62n;
    }
    const password = `${out}Hg7`;
    registerSecret(password, { pinned: false });
    return password;
  }

  /** Finds the robot of a registry username (exact name), or null. */
  async findRobot(username: string): Promise<HarborRobot | null> {
    const full = this.robotNameFor(username);
    const robots = await this.deps.harbor.listRobots(username);
    const hit = robots.find((r) => r.name === full);
    return hit ? ((await this.deps.harbor.getRobot(hit.id)) ?? null) : null;
  }

  /** Every platform project's owner record (the ownership map of all workspaces). */
  async ownerRecords(): Promise<OwnerRecord[]> {
    const robots = await this.deps.harbor.listRobots(this.deps.usernamePrefix);
    const out: OwnerRecord[] = [];
    for (const r of robots) {
      if (!r.name.startsWith(this.deps.robotPrefix + this.deps.usernamePrefix)) continue;
      const m = parseMarker(r.description);
      if (!m) continue;
      out.push({
        robotId: r.id,
        username: r.name.slice(this.deps.robotPrefix.length),
        project: { id: m.project, name: m.name, department: m.department },
        workspaces: r.permissions.filter((p) => p.kind === 'project').map((p) => p.namespace),
      });
    }
    return out;
  }

  /**
   * Gives the project's credentials push/pull on a workspace, creating the robot with the first workspace.
   * Safe to call again (idempotent); verified by reading the robot back.
   */
  async grantWorkspace(project: PlatformProject, workspace: string): Promise<void> {
    await this.mutate(project, {
      apply: (robot) => {
        if (robot.permissions.some((p) => p.kind === 'project' && p.namespace === workspace)) return false;
        robot.permissions.push({ kind: 'project', namespace: workspace, access: [...WORKSPACE_ACCESS] });
        return true;
      },
      holds: (robot) => robot.permissions.some((p) => p.kind === 'project' && p.namespace === workspace),
      initial: [{ kind: 'project', namespace: workspace, access: [...WORKSPACE_ACCESS] }],
    });
  }

  /** Removes a workspace from the project's credentials (Harbor also drops it when the project is deleted). */
  async revokeWorkspace(project: PlatformProject, workspace: string): Promise<void> {
    const username = this.usernameFor(project.id);
    await this.deps.coordination.withLock(`robot:${username}`, async () => {
      const robot = await this.findRobot(username);
      if (!robot) return;
      const kept = robot.permissions.filter((p) => !(p.kind === 'project' && p.namespace === workspace));
      if (kept.length === robot.permissions.length || kept.length === 0) return; // Harbor refuses an empty list
      await this.deps.harbor.updateRobot({ ...robot, permissions: kept });
    });
  }

  /** The project's credentials; completes an interrupted rotation first. */
  async get(project: PlatformProject): Promise<ProjectCredentials> {
    const username = this.usernameFor(project.id);
    let robot = await this.findRobot(username);
    if (!robot) {
      throw conflict(`project "${project.id}" has no workspace yet: its registry credentials are created with its first workspace`);
    }
    let marker = parseMarker(robot.description);
    if (!marker || marker.pending) {
      robot = await this.mutate(project, { apply: () => false, holds: () => true });
      marker = parseMarker(robot.description)!;
    }
    return {
      username,
      password: this.derivePassword(robot, marker.gen),
      workspaces: robot.permissions.filter((p) => p.kind === 'project').map((p) => p.namespace),
    };
  }

  /** New password; the old one stops working at once. */
  async rotate(project: PlatformProject): Promise<ProjectCredentials> {
    const username = this.usernameFor(project.id);
    if (!(await this.findRobot(username))) throw notFound(`credentials of project "${project.id}"`);
    await this.mutate(project, { apply: () => false, holds: () => true, bumpGeneration: true });
    this.deps.metrics?.credentialRotations.inc();
    return this.get(project);
  }

  /** Checks a registry login. Constant-time comparison; returns the owner record on success. */
  async verify(username: string, password: string): Promise<HarborRobot | null> {
    if (!username.startsWith(this.deps.usernamePrefix)) return null;
    const robot = await this.findRobot(username);
    const marker = robot && parseMarker(robot.description);
    if (!robot || !marker || robot.disable) return null;
    const expected = Buffer.from(this.derivePassword(robot, marker.gen));
    const given = Buffer.from(password);
    return expected.length === given.length && timingSafeEqual(expected, given) ? robot : null;
  }

  /**
   * A locked read-modify-write (see lockedMutate). When the lock does not span replicas (Redis down or not
   * configured), another replica may still PUT a stale snapshot right after our read-back: wait a moment
   * outside the lock, look again, and redo the change if it was lost.
   */
  private async mutate(
    project: PlatformProject,
    change: Parameters<CredentialsService['lockedMutate']>[1],
  ): Promise<HarborRobot> {
    let robot = await this.lockedMutate(project, change);
    for (let round = 0; round < 3 && !this.deps.coordination.shared() && this.deps.settleMs; round++) {
      await new Promise((r) => setTimeout(r, this.deps.settleMs));
      const again = await this.deps.harbor.getRobot(robot.id);
      if (again && change.holds(again)) return again;
      this.deps.metrics?.robotUpdateRetries.inc();
      robot = await this.lockedMutate(project, { ...change, bumpGeneration: false });
    }
    return robot;
  }

  /**
   * The one read-modify-write path for a project's robot, under its lock:
   * read (or create) → apply → PUT the whole body → read back and check `holds` → repeat on a lost update.
   * Also finishes a pending secret (interrupted create or rotation) and refreshes the project's display data.
   */
  private async lockedMutate(
    project: PlatformProject,
    change: {
      apply: (robot: HarborRobot) => boolean;
      holds: (robot: HarborRobot) => boolean;
      initial?: RobotPermission[];
      bumpGeneration?: boolean;
    },
  ): Promise<HarborRobot> {
    const { harbor, coordination } = this.deps;
    const username = this.usernameFor(project.id);
    return coordination.withLock(
      `robot:${username}`,
      async () => {
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          let robot = await this.findRobot(username);
          if (!robot) {
            if (!change.initial) throw notFound(`credentials of project "${project.id}"`);
            const marker: RobotMarker = { v: 1, project: project.id, name: project.name, department: project.department, gen: 1, pending: true };
            try {
              await harbor.createRobot({
                name: username,
                description: formatMarker(marker),
                level: 'system',
                duration: -1,
                disable: false,
                permissions: change.initial,
              });
            } catch (e) {
              // Another replica created it between our read and our create: go round again.
              if (e instanceof AppError && e.kind === 'conflict') continue;
              throw e;
            }
            robot = await this.findRobot(username);
            if (!robot) continue;
          }
          const before = parseMarker(robot.description);
          const marker: RobotMarker = {
            v: 1,
            project: project.id,
            name: project.name || before?.name || project.id,
            department: project.department || before?.department || '',
            gen: (before?.gen ?? 1) + (change.bumpGeneration ? 1 : 0),
            pending: before?.pending || change.bumpGeneration || !before ? true : undefined,
          };
          const changed = change.apply(robot);
          const describe = formatMarker(marker);
          if (changed || describe !== robot.description) {
            await harbor.updateRobot({ ...robot, description: describe, duration: robot.duration, disable: robot.disable });
          }
          if (marker.pending) {
            await harbor.setRobotSecret(robot.id, this.derivePassword(robot, marker.gen));
            delete marker.pending;
            await harbor.updateRobot({ ...robot, description: formatMarker(marker) });
          }
          const check = await harbor.getRobot(robot.id);
          if (check && change.holds(check) && parseMarker(check.description)?.gen === marker.gen && !parseMarker(check.description)?.pending) {
            return check;
          }
          this.deps.metrics?.robotUpdateRetries.inc();
          this.deps.logger.warn('robot update lost to a concurrent writer; retrying', { robot_id: robot.id, attempt });
        }
        throw new AppError('conflict', 'could not update the project credentials: too many concurrent changes, try again');
      },
      { ttlMs: 30000, waitMs: 60000 },
    );
  }
}
