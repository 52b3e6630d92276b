/** Harbor's GC job, run asynchronously: untagged-artifact deletion, then blobs no artifact references. */
import { GcExecution, State } from './state';

const SRC = '/harbor/src/jobservice/job/impl/gc/garbage_collection.go';

export interface GcEnv {
  state: State;
  deleteManifest: (repo: string, digest: string) => Promise<void>;
  delayMs: number;
  /**
   * Harbor's GC time window (GC_TIME_WINDOW_HOURS; stock 2): blobs pushed or touched within it are never collected,
   * so a GC right after a delete frees nothing. 0 collects at once (how the shared recording was made).
   */
  timeWindowHours: number;
}

export function startGc(env: GcEnv, exec: GcExecution): void {
  const s = env.state;
  // Harbor's API handler adds the configured window to the job's parameters (shown in job_parameters)
  exec.parameters = { ...exec.parameters, time_window: env.timeWindowHours };
  // one GC at a time, as the jobservice runs them (max concurrency 1)
  const previous = s.gc.filter((e) => e.id < exec.id && e.status === 'Running');
  const waitPrev = () => (previous.every((e) => e.status !== 'Running') ? Promise.resolve() : new Promise<void>((r) => setTimeout(() => r(waitPrev()), 50)));
  setTimeout(() => {
    waitPrev()
      .then(() => runGc(env, exec))
      .catch((e) => {
        exec.log.push(line('ERROR', 0, `gc failed: ${String(e)}`));
        exec.status = 'Error';
        exec.updateTime = Date.now();
      });
  }, env.delayMs);
}

function line(level: string, src: number, msg: string): string {
  return `${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')} [${level}] [${SRC}:${src}]: ${msg}`;
}

async function runGc(env: GcEnv, exec: GcExecution): Promise<void> {
  const s = env.state;
  const dry = exec.parameters.dry_run === true;
  const untagged = exec.parameters.delete_untagged === true;
  const log = (level: string, src: number, msg: string) => exec.log.push(line(level, src, msg));
  const windowHours = env.timeWindowHours;
  log('INFO', 145, `Garbage Collection parameters: [delete_untagged: ${untagged}, dry_run: ${dry}, time_window: ${windowHours}]`);
  log('INFO', 155, 'start to run gc in job.');
  if (untagged) {
    log('INFO', 420, 'start to delete untagged artifact (no actually deletion for dry-run mode)');
    if (!dry) {
      for (const a of [...s.artifacts.values()]) {
        if (s.tagsOf(a.id).length) continue;
        const r = s.repositories.get(a.repositoryId);
        if (r) await env.deleteManifest(r.name, a.digest);
        s.deleteArtifact(a);
      }
    }
    log('INFO', 441, 'end to delete untagged artifact (no actually deletion for dry-run mode)');
  }
  const trash = dry ? [] : [...s.trash];
  if (!dry) {
    if (!trash.length) log('WARNING', 187, 'no removed artifacts.');
    else {
      log('INFO', 456, 'artifact trash candidates.');
      for (const t of trash) {
        const ct = new Date(t.trashedAt).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');
        log('INFO', 458, `ID-${t.trashId} MediaType-${t.mediaType} ManifestMediaType-${t.manifestMediaType} RepositoryName-${t.repoName} Digest-${t.digest} CreationTime-${ct}`);
      }
    }
  } else log('WARNING', 187, 'no removed artifacts.');

  // blobs referenced by a living artifact are kept
  const referenced = new Set<string>();
  for (const a of s.artifacts.values()) {
    referenced.add(a.digest);
    for (const b of a.blobs) referenced.add(b.digest);
  }
  // the time window: only blobs untouched for windowHours are candidates (blob.update_time <= now - window)
  const cutoff = Date.now() - windowHours * 3_600_000;
  const inWindow = (d: string) => windowHours > 0 && (s.blobUpdated.get(d) ?? 0) > cutoff;
  const candidates = [...s.blobs.keys()].filter((d) => !referenced.has(d) && !inWindow(d)).sort((x, y) => s.blobOrder(x) - s.blobOrder(y));
  const manifests = new Set(s.manifestDigests());
  let bytes = 0;
  for (const d of candidates) {
    bytes += s.blobs.get(d) ?? 0;
    log('INFO', 224, `blob eligible for deletion: ${d}`);
  }
  const nManifests = candidates.filter((d) => manifests.has(d)).length;
  const nBlobs = candidates.length - nManifests;
  const mb = Math.floor(bytes / 1024 / 1024);
  log('INFO', 236, `${nBlobs} blobs and ${nManifests} manifests eligible for deletion`);
  log('INFO', 237, `The GC could free up ${mb} MB space, the size is a rough estimation.`);
  if (!dry) {
    const total = candidates.length;
    candidates.forEach((d, i) => {
      const n = `[${i + 1}/${total}]`;
      if (manifests.has(d)) {
        const t = trash.find((x) => x.digest === d);
        log('INFO', 266, `${n} delete the manifest with registry v2 API: ${t?.repoName ?? ''}, ${t?.manifestMediaType ?? ''}, ${d}`);
        log('INFO', 280, `${n} delete manifest from storage: ${d}`);
        log('INFO', 299, `${n} delete artifact trash record from database: ${t?.trashId ?? 0}, ${t?.repoName ?? ''}, ${d}`);
      }
      log('INFO', 317, `${n} delete blob from storage: ${d}`);
      log('INFO', 337, `${n} delete blob record from database: ${s.blobOrder(d)}, ${d}`);
      s.blobs.delete(d);
    });
    // a trashed artifact whose manifest is still inside the window stays in the trash for a later run
    s.trash = s.trash.filter((t) => !trash.includes(t) || inWindow(t.digest));
    log('INFO', 356, `${nBlobs} blobs and ${nManifests} manifests are actually deleted`);
    log('INFO', 357, `The GC job actual frees up ${mb} MB space.`);
  }
  log('INFO', 174, 'success to run gc in job.');
  exec.status = 'Success';
  exec.updateTime = Date.now();
}
