/**
 * Starts a docker-registry and the Harbor double and prints the URL; stays up until SIGINT/SIGTERM.
 *
 *   npx ts-node --transpile-only test/harbor-double/serve.ts [--port N] [--no-registry] [--latency realistic] [--stock]
 *
 * `--stock`: Harbor 2.5.5's stock timings instead of the suite's fast defaults — the 1.5 s failed-login sleep and lock
 * (wrongCredentialsDelayMs 1500), the 2 h GC time window — and its nginx listener (printed on a second line).
 *
 * `POST <url>/__double/reset` brings it back to a fresh install (the registry is restarted with empty storage),
 * e.g. for the conformance tool: --reset "curl -fsS -X POST <url>/__double/reset".
 */
import { startHarborDouble } from './index';
import { startRegistry, RunningRegistry } from '../support/registry';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const portArg = args.indexOf('--port');
  const port = portArg >= 0 ? Number(args[portArg + 1]) : 0;
  const withRegistry = !args.includes('--no-registry');
  const latencyArg = args.indexOf('--latency');
  const realistic = latencyArg >= 0 && args[latencyArg + 1] === 'realistic';
  const stock = args.includes('--stock');
  let registry: RunningRegistry | undefined = withRegistry ? await startRegistry() : undefined;
  const harbor = await startHarborDouble({
    port,
    registryUrl: registry?.url,
    latency: realistic ? 'realistic' : undefined,
    ...(stock ? { wrongCredentialsDelayMs: 1500, gcTimeWindowHours: 2, nginx: true } : {}),
    onReset: async () => {
      if (!withRegistry) return;
      const old = registry;
      registry = await startRegistry();
      await old?.stop();
      return { registryUrl: registry.url };
    },
  });
  console.log(harbor.url);
  if (harbor.nginxUrl) console.log(harbor.nginxUrl);
  const stop = async () => {
    await harbor.close();
    await registry?.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
