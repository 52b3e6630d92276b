/**
 * `npm run bench [-- name ...]`: runs the named benchmarks (default: all) one after the other. Each bench module
 * exports `run(): Promise<void>` and writes its own results under bench/results/. Benchmarks are not tests:
 * they print numbers and targets, and never fail on a slow machine (only on a broken setup).
 */
interface Bench {
  description: string;
  load: () => Promise<{ run: () => Promise<void> }>;
}

const BENCHES: Record<string, Bench> = {
  upload: {
    description: 'console upload: 1 GiB random single-layer archive, plain and gzip, hubgate vs skopeo copy docker-archive:, hubgate peak RSS',
    load: () => import('./upload'),
  },
  passthrough: {
    description: 'registry pass-through: 1 GiB blob GET/PUT, 10,000 manifest HEADs, RSS under 10 parallel pulls',
    load: () => import('./passthrough'),
  },
  hostile: {
    description: 'hostile archives: the fuzz corpus (~217 archives) POSTed to the upload route, event-loop delay and wall time per archive vs a bare Node server reading the same bodies',
    load: () => import('./hostile'),
  },
  list: {
    description: 'image lists: BENCH_WORKSPACES × BENCH_IMAGES_PER_WORKSPACE images (default 10,000; other scales also run 10,000), Harbor at 20 ms per call; p95 warm, cold, after a write, push visibility, RSS, Harbor calls per minute',
    load: () => import('./list'),
  },
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !BENCHES[w]);
  if (unknown.length) {
    console.error(`unknown bench: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  for (const name of wanted.length ? wanted : Object.keys(BENCHES)) {
    console.log(`\n=== bench ${name}: ${BENCHES[name].description}`);
    const mod = await BENCHES[name].load();
    await mod.run();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
