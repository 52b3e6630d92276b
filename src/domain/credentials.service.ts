import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError, conflict, notFound } from './errors';
import type { PlatformProject } from './principal';
import { registryUsername } from './names';
import type { HarborPort, HarborRobot, RobotPermission } from '../ports/harbor';
import { COORDINATION_RETRY_AFTER_SECONDS, type Cache, type Coordination } from '../ports/coordination';
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
 *   replica can show it, and rotating means bumping the generation and setting the new secret in Harbor;
 * - the marker also carries the fingerprint of the credential secret that set the robot's current secret (`key`).
 *   A robot whose key is one this replica was told is retired (HUBGATE_CREDENTIAL_SECRET_PREVIOUS), or that has
 *   no key yet (written before fingerprints), gets its secret re-set from this replica's key on the next read, so
 *   a changed credential secret heals by itself. Any other foreign key is a disagreement between replicas: never
 *   overwritten (that could ping-pong), refused with 503, shown in /readyz and `hubgate_credential_key_mismatch`.
 *   A retired key that comes back on a robot after this replica replaced it is live somewhere: this replica stops
 *   re-setting it (until restart) and reports it the same way.
 * - With a shared cache (Redis), every replica announces its key (a short-TTL entry, refreshed); a foreign key that
 *   no replica has announced for a grace period, while Redis answered throughout, belongs to no running replica:
 *   it is treated as retired, so a secret changed on every replica heals without the list, once the last replica
 *   with the old one is gone. A key some replica announces is never replaced (no ping-pong).
 * Every robot change is a read-modify-write of the whole robot (Harbor's PUT replaces everything and has no
 * version check), done under a per-robot lock and verified by reading back. The lock is required to span the
 * replicas (Coordination.withLock `required`): while Redis is configured but unavailable (or just restarted),
 * robot changes are refused with 503 + Retry-After rather than risk a lost update, and every write first checks
 * that the lock is still held.
 */
export interface RobotMarker {
  v: 1;
  project: string;
  name: string;
  department: string;
  gen: number;
  /** The secret for `gen` has not been confirmed set in Harbor yet; the next touch sets it. */
  pending?: boolean;
  /** Fingerprint (keyFingerprint) of the credential secret that set the robot's secret; absent on old markers. */
  key?: string;
}

/**
 * A short, non-secret fingerprint of a credential secret (64 bits of an HMAC under it): tells which key set a
 * robot's password without revealing anything about the key.
 */
export function keyFingerprint(secret: string): string {
  return createHmac('sha256', secret).update('hubgate credential key fingerprint').digest('hex').slice(0, 16);
}

/** The marker key of robots written before fingerprints (no `key`). */
const NO_KEY = '';
const DEFAULT_MISMATCH_TTL_MS = 15 * 60 * 1000;

/** How this replica stands to a robot's key: its own, one it re-sets (retired or none), or one it must leave. */
type KeyStanding = 'own' | 'heal' | 'foreign';

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
    return m && m.v === 1 && typeof m.project === 'string' && Number.isInteger(m.gen) && (m.key === undefined || typeof m.key === 'string')
      ? m
      : undefined;
  } /* Stryker disable next-line BlockStatement: equivalent, an empty catch block falls off the end and returns undefined too */ catch {
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
  /** Retired credential secrets, or their fingerprints (HUBGATE_CREDENTIAL_SECRET_PREVIOUS): robots they set are re-set. */
  previousSecrets?: readonly string[];
  /** A robot seen with a foreign key counts as a mismatch this long after it was last seen (default 15 min). */
  mismatchTtlMs?: number;
  /**
   * The cache shared by the replicas (Redis; leave out without REDIS_URL): key announcements. Without it only
   * `previousSecrets` are ever replaced.
   */
  liveKeys?: Cache;
  /** Announcements are refreshed this often (default 20 s), live for 3× that, and a key must have been unannounced
   * (with Redis answering) for `keyGraceMs` (default 90 s) before it counts as retired. */
  announceMs?: number;
  keyGraceMs?: number;
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

/** The lock stopped being trustworthy in the middle of a change: stop before the next write. */
export const coordinationLost = (): AppError =>
  new AppError('unavailable', 'coordination between the hubgate replicas was lost during the change; nothing more was written, try again', {
    retryAfterSeconds: COORDINATION_RETRY_AFTER_SECONDS,
  });

/** How long a registry username with no robot is remembered as absent (see CredentialsService.absent). */
const ABSENT_TTL_MS = 10_000;
const ABSENT_MAX = 10_000;

export class CredentialsService {
  /** Fingerprint of this replica's credential secret. */
  readonly key: string;
  /** Retired keys: listed (previousSecrets), or unannounced by every replica for the grace period. */
  private readonly retired: Set<string>;
  /** The retired keys that were unannounced (not listed): retired only while no replica announces them again. */
  private readonly unannouncedKeys = new Set<string>();
  /** Keys this replica replaced, per robot id: one coming back means a replica still runs with it. */
  private readonly replaced = new Map<number, Set<string>>();
  /** Retired keys found still in use: never replaced again by this process (no ping-pong). */
  private readonly contested = new Set<string>();
  /** Robots last seen with a key this replica may not replace, by robot id. */
  private readonly mismatches = new Map<number, { key: string; at: number }>();
  /** When each foreign key was last logged. */
  private readonly warned = new Map<string, number>();
  /** Since when this replica's own announcements have reached the shared cache without a break. */
  private announcedSince?: number;
  /** Foreign keys found unannounced (shared cache answering), since when. */
  private readonly unannouncedSince = new Map<string, number>();
  private announcer?: NodeJS.Timeout;
  /**
   * Registry usernames that had no robot when a login asked (username → until, ms). Usernames are predictable
   * (`hg-<anything>`): without this, every login with a made-up one costs a robot search in Harbor. Short-lived, so a
   * project created on another replica can log in here within ABSENT_TTL_MS; dropped here as soon as this replica
   * creates the robot. Bounded (oldest first).
   */
  private readonly absent = new Map<string, number>();

  constructor(private readonly deps: CredentialsDeps) {
    this.key = keyFingerprint(deps.secret);
    // This replica's own key may be listed too: standing() takes it for its own before it looks at the retired keys.
    this.retired = new Set<string>(deps.previousSecrets?.map((s) => (/^[0-9a-f]{16}$/.test(s) ? s : keyFingerprint(s))));
  }

  /** Starts announcing this replica's key in the shared cache (and re-checking the foreign keys it met). */
  start(): void {
    if (!this.deps.liveKeys || this.announcer) return;
    const tick = () => void this.announce().catch(() => undefined);
    tick();
    this.announcer = setInterval(tick, this.deps.announceMs ?? 20000);
    this.announcer.unref();
  }

  stop(): void {
    clearInterval(this.announcer); // no-op when not started
    this.announcer = undefined;
  }

  /** One announcement round: this key is live; every foreign key met recently is looked up again. */
  async announce(): Promise<void> {
    const cache = this.deps.liveKeys;
    if (!cache) return;
    await cache.set(`credential-key:${this.key}`, 1, Math.max(1, Math.ceil((3 * (this.deps.announceMs ?? 20000)) / 1000)));
    if (this.deps.coordination.shared()) this.announcedSince ??= Date.now();
    else this.announcedSince = undefined;
    for (const key of new Set([...this.mismatches.values()].map((m) => m.key))) await this.lookUpAnnouncements(key);
    // A key taken for retired because nobody announced it, announced again: a replica runs with it after all.
    for (const key of [...this.unannouncedKeys]) {
      if ((await cache.get<number>(`credential-key:${key}`)) === undefined) continue;
      this.unannouncedKeys.delete(key);
      this.retired.delete(key);
      this.unannouncedSince.delete(key);
      this.deps.logger.warn('credential key announced again: no longer treated as retired', { key, own_key: this.key });
    }
  }

  /**
   * Where this replica stands to the key of a robot's secret (standing()), a foreign key looked up in the
   * announcements first (lookUpAnnouncements): one no replica announced for the grace period counts as retired
   * from now on, and the robot is this replica's to heal.
   */
  private async judge(robotId: number, marker: RobotMarker): Promise<KeyStanding> {
    const standing = this.standing(robotId, marker);
    if (standing !== 'foreign') return standing;
    await this.lookUpAnnouncements(marker.key ?? NO_KEY);
    return this.standing(robotId, marker);
  }

  /**
   * Takes `key` for retired when no replica has announced it for the grace period while the shared cache answered
   * (and this replica's own announcements got through for as long): no running replica uses it. From then on it
   * counts as retired (a key that comes back after that is contested as usual). Called with foreign keys only.
   */
  private async lookUpAnnouncements(key: string): Promise<void> {
    const cache = this.deps.liveKeys;
    if (!cache || this.contested.has(key) || this.retired.has(key)) return;
    const live = await cache.get<number>(`credential-key:${key}`);
    const now = Date.now();
    if (live !== undefined || !this.deps.coordination.shared()) {
      this.unannouncedSince.delete(key);
      return;
    }
    const since = this.unannouncedSince.get(key) ?? now;
    this.unannouncedSince.set(key, since);
    const grace = this.deps.keyGraceMs ?? 90000;
    if (this.announcedSince === undefined || now - this.announcedSince < grace || now - since < grace) return;
    this.retired.add(key);
    this.unannouncedKeys.add(key);
    this.deps.logger.warn('credential key announced by no replica: treated as retired, its robots get this key\'s passwords', { key, own_key: this.key });
  }

  /** For /readyz: not ok while robots set by another credential secret were seen recently (a disagreement). */
  keyStatus(): { ok: boolean; detail: string } {
    this.pruneMismatches();
    const contested = [...this.contested].filter((k) => k !== NO_KEY);
    const used = contested.length ? `; retired key(s) ${contested.join(', ')} still in use by another replica` : '';
    if (this.mismatches.size === 0) return { ok: true, detail: `credential key ${this.key}${used}` };
    const keys = [...new Set([...this.mismatches.values()].map((m) => m.key))].sort();
    return {
      ok: false,
      detail:
        `${this.mismatches.size} project credential(s) carry a password set with another credential secret (key ${keys.join(', ')}; ` +
        `this replica's key ${this.key}): this replica can neither show nor check them. The replicas disagree on ` +
        `HUBGATE_CREDENTIAL_SECRET, or a retired secret is missing from HUBGATE_CREDENTIAL_SECRET_PREVIOUS${used}`,
    };
  }

  private pruneMismatches(): void {
    const horizon = Date.now() - (this.deps.mismatchTtlMs ?? DEFAULT_MISMATCH_TTL_MS);
    for (const [id, m] of this.mismatches) if (m.at < horizon) this.mismatches.delete(id);
    this.deps.metrics?.credentialKeyMismatch.set(this.mismatches.size);
  }

  /**
   * Where this replica stands to the key that set a robot's secret, recording what it learns: a foreign key it
   * may not replace (a mismatch), or a retired key back on a robot it already re-set (contested from now on).
   */
  private standing(robotId: number, marker: RobotMarker): KeyStanding {
    const key = marker.key ?? NO_KEY;
    if (key === this.key) {
      if (this.mismatches.delete(robotId)) this.pruneMismatches();
      return 'own';
    }
    if (this.replaced.get(robotId)?.has(key) && !this.contested.has(key)) {
      this.contested.add(key);
      this.deps.logger.error('credential key disagreement: a key this replica replaced came back, another replica still uses it; not replacing it again', {
        robot_id: robotId,
        key: key || 'none',
        own_key: this.key,
      });
    }
    // Markers from before fingerprints are adopted once; if one comes back (an older replica rewriting it during
    // a rolling upgrade), they are trusted as before.
    if (key === NO_KEY) return this.contested.has(NO_KEY) ? 'own' : 'heal';
    if (this.retired.has(key) && !this.contested.has(key)) return 'heal';
    // One warning per foreign key and mismatch period, however many robots carry it.
    const now = Date.now();
    if (now - (this.warned.get(key) ?? -Infinity) >= (this.deps.mismatchTtlMs ?? DEFAULT_MISMATCH_TTL_MS)) {
      this.warned.set(key, now);
      this.deps.logger.warn('project credentials set with another credential secret: not replaced (see /readyz)', { robot_id: robotId, key, own_key: this.key });
    }
    this.mismatches.set(robotId, { key, at: now });
    this.pruneMismatches();
    return 'foreign';
  }

  private keyMismatch(projectId: string, key: string | undefined): AppError {
    // Stryker disable next-line StringLiteral: equivalent, only a foreign key is refused, and a foreign key is never none
    const shown = key || 'none';
    return new AppError(
      'unavailable',
      `the registry password of project "${projectId}" was set with another credential secret (key ${shown}, this replica's key ${this.key}): ` +
        'this replica can neither show nor check it. The replicas disagree on HUBGATE_CREDENTIAL_SECRET, or the old secret is missing from HUBGATE_CREDENTIAL_SECRET_PREVIOUS',
    );
  }

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
      this.standing(r.id, m);
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

  /**
   * Removes a workspace from the project's credentials, before its Harbor project goes (Harbor may keep a
   * permission by project name and show it again when a project of that name is created). A robot left with no
   * workspace is deleted (Harbor refuses an empty list): the project's next first workspace creates a new one.
   */
  async revokeWorkspace(project: PlatformProject, workspace: string): Promise<void> {
    const username = this.usernameFor(project.id);
    await this.deps.coordination.withLock(
      `robot:${username}`,
      async (held) => {
        const robot = await this.findRobot(username);
        if (!robot) return;
        const kept = robot.permissions.filter((p) => !(p.kind === 'project' && p.namespace === workspace));
        if (kept.length === robot.permissions.length) return;
        if (!held()) throw coordinationLost();
        if (kept.length === 0) await this.deps.harbor.deleteRobot(robot.id);
        else await this.deps.harbor.updateRobot({ ...robot, permissions: kept });
      },
      { ttlMs: 30000, waitMs: 60000, required: true },
    );
  }

  /**
   * A fresh Harbor project (201 to this creator) belongs to `owner` alone: any other project's robot that still
   * lists the name (a permission left from an earlier project of that name) loses it first.
   */
  async releaseFromOthers(workspace: string, owner: PlatformProject): Promise<void> {
    for (const o of await this.ownerRecords()) {
      if (o.project.id === owner.id || !o.workspaces.includes(workspace)) continue;
      this.deps.logger.warn('a new workspace was still listed by another project\'s credentials (left from an earlier workspace of that name); removed', {
        workspace,
        project: o.project.id,
      });
      await this.revokeWorkspace(o.project, workspace);
    }
  }

  /** The project's credentials; completes an interrupted rotation first. */
  async get(project: PlatformProject): Promise<ProjectCredentials> {
    const username = this.usernameFor(project.id);
    let robot = await this.findRobot(username);
    if (!robot) {
      throw conflict(`project "${project.id}" has no workspace yet: its registry credentials are created with its first workspace`);
    }
    let marker = parseMarker(robot.description);
    let standing = marker ? await this.judge(robot.id, marker) : 'heal';
    // No marker, an interrupted rotation, or a secret set with a retired key: set this key's password in Harbor.
    if (standing === 'heal' || (standing === 'own' && marker?.pending)) {
      robot = await this.mutate(project, { apply: () => false, holds: () => true });
      marker = parseMarker(robot.description)!;
      standing = this.standing(robot.id, marker);
    }
    if (standing === 'foreign' || !marker) throw this.keyMismatch(project.id, marker?.key);
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
    const until = this.absent.get(username);
    if (until !== undefined && until > Date.now()) return null;
    const robot = await this.findRobot(username);
    if (!robot) {
      this.absent.delete(username);
      this.absent.set(username, Date.now() + ABSENT_TTL_MS);
      if (this.absent.size > ABSENT_MAX) this.absent.delete(this.absent.keys().next().value as string);
    } else this.absent.delete(username);
    const marker = robot && parseMarker(robot.description);
    if (!robot || !marker || robot.disable) return null;
    // Another key set the secret and this replica may not replace it: it cannot judge the password (no failure).
    const standing = await this.judge(robot.id, marker);
    if (standing === 'foreign') throw this.keyMismatch(marker.project, marker.key);
    const expected = Buffer.from(this.derivePassword(robot, marker.gen));
    const given = Buffer.from(password);
    if (!(expected.length === given.length && timingSafeEqual(expected, given))) return null;
    if (standing === 'own' && !marker.pending) return robot;
    // The caller holds the password this replica's key derives, but Harbor holds another (a retired key, no key
    // yet, or an interrupted rotation): set it in Harbor, nothing else changes. A wrong password never gets here.
    if (this.usernameFor(marker.project) !== username) return robot;
    const healed = await this.mutate({ id: marker.project, name: marker.name, department: marker.department }, { apply: () => false, holds: () => true });
    const now = parseMarker(healed.description);
    if (now?.gen !== marker.gen || now.pending) return null; // rotated meanwhile: the given password is the old one
    if (this.standing(healed.id, now) === 'foreign') throw this.keyMismatch(marker.project, now.key);
    return healed;
  }

  /** Adds to `gone` the robot's workspaces whose Harbor project no longer exists; true when it found any. */
  private async vanished(robot: HarborRobot, gone: Set<string>): Promise<boolean> {
    let found = false;
    for (const p of robot.permissions) {
      if (p.kind !== 'project' || gone.has(p.namespace)) continue;
      if (await this.deps.harbor.findProject(p.namespace)) continue;
      gone.add(p.namespace);
      found = true;
    }
    return found;
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
      // lockedMutate returns only a read-back that carries its marker.
      const wrote = parseMarker(robot.description)!;
      const seen = again && parseMarker(again.description);
      // The change, and the marker that says which password Harbor holds: a stale PUT can undo a rotation (an older
      // generation), a heal (no marker) or its completion (pending again). Whose key it names, the redo judges.
      if (again && seen && seen.gen >= wrote.gen && !seen.pending === !wrote.pending && change.holds(again)) return again;
      this.deps.metrics?.robotUpdateRetries.inc();
      // Redone at the generation already written: its secret is in Harbor, so the marker must say so again.
      robot = await this.lockedMutate(project, { ...change, bumpGeneration: false, reached: { robotId: robot.id, gen: wrote.gen } });
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
      /** The generation this robot's marker must reach (a settle redo of a change whose secret Harbor holds); not another robot of the name. */
      reached?: { robotId: number; gen: number };
    },
  ): Promise<HarborRobot> {
    const { harbor, coordination } = this.deps;
    const username = this.usernameFor(project.id);
    // Workspaces found deleted behind this robot's back: Harbor refuses (404 "project … not found") a PUT that
    // still names one, so they are left out of every write from then on.
    const gone = new Set<string>();
    return coordination.withLock(
      `robot:${username}`,
      async (held) => {
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          let robot = await this.findRobot(username);
          if (!robot) {
            if (!change.initial) throw notFound(`credentials of project "${project.id}"`);
            const marker: RobotMarker = { v: 1, project: project.id, name: project.name, department: project.department, gen: 1, pending: true, key: this.key };
            this.absent.delete(username);
            try {
              if (!held()) throw coordinationLost();
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
          // No marker (undefined): this key sets the secret, like a heal (setsSecret).
          const standing = before && this.standing(robot.id, before);
          const floor = change.reached?.robotId === robot.id ? change.reached.gen : 1;
          const gen = Math.max((before?.gen ?? 1) + (change.bumpGeneration ? 1 : 0), floor);
          const raised = before !== undefined && gen > before.gen;
          // A secret another live key set is never replaced here (no ping-pong), not even by a rotation.
          if (standing === 'foreign' && raised) throw this.keyMismatch(project.id, before.key);
          // This key sets the secret: a new marker, an interrupted rotation, a rotation, or a retired key (heal).
          const setsSecret = standing !== 'foreign' && (!before || before.pending || raised || standing === 'heal');
          const marker: RobotMarker = {
            v: 1,
            project: project.id,
            name: project.name || before?.name || project.id,
            department: project.department || before?.department || '',
            gen,
            pending: setsSecret || before?.pending ? true : undefined,
            key: setsSecret ? this.key : before?.key,
          };
          const listed = robot.permissions.length;
          robot.permissions = robot.permissions.filter((p) => !(p.kind === 'project' && gone.has(p.namespace)));
          const changed = change.apply(robot) || robot.permissions.length !== listed;
          const describe = formatMarker(marker);
          if (changed || describe !== robot.description) {
            // Every workspace it reached is gone (deleted outside hubgate, or a rollback that could not revoke):
            // Harbor refuses a robot with no permission, and there is nothing to show credentials for.
            if (robot.permissions.length === 0) {
              throw conflict(`project "${project.id}" has no workspace any more: its registry credentials come back with its next workspace`);
            }
            if (!held()) throw coordinationLost();
            try {
              await harbor.updateRobot({ ...robot, description: describe, duration: robot.duration, disable: robot.disable });
            } catch (e) {
              if (!(e instanceof AppError && e.kind === 'not_found' && (await this.vanished(robot, gone)))) throw e;
              this.deps.logger.warn('project credentials named deleted workspaces; left out', { robot_id: robot.id, workspaces: [...gone] });
              continue;
            }
          }
          if (setsSecret) {
            if (!held()) throw coordinationLost();
            await harbor.setRobotSecret(robot.id, this.derivePassword(robot, marker.gen));
            delete marker.pending;
            if (!held()) throw coordinationLost();
            await harbor.updateRobot({ ...robot, description: formatMarker(marker) });
            const old = before?.key ?? NO_KEY;
            // Recorded for this key too after a rotation: harmless, standing() takes its own key for its own first.
            if (before) {
              let keys = this.replaced.get(robot.id);
              if (!keys) this.replaced.set(robot.id, (keys = new Set()));
              keys.add(old);
              if (!before.pending && !change.bumpGeneration) {
                this.deps.metrics?.credentialKeyHeals.inc();
                this.deps.logger.info('project credentials re-set with this replica\'s credential secret', { robot_id: robot.id, old_key: old || 'none', key: this.key });
              }
            }
          }
          const check = await harbor.getRobot(robot.id);
          const now = check && parseMarker(check.description);
          if (
            check &&
            now &&
            change.holds(check) &&
            now.gen === marker.gen &&
            Boolean(now.pending) === Boolean(marker.pending) &&
            (!setsSecret || now.key === this.key)
          ) {
            return check;
          }
          this.deps.metrics?.robotUpdateRetries.inc();
          this.deps.logger.warn('robot update lost to a concurrent writer; retrying', { robot_id: robot.id, attempt });
        }
        throw new AppError('conflict', 'could not update the project credentials: too many concurrent changes, try again');
      },
      { ttlMs: 30000, waitMs: 60000, required: true },
    );
  }
}
