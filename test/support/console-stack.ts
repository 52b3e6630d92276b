/**
 * The sandbox stack with the console signed in through the code flow: a real Debian docker-registry, the Harbor
 * double in front of it, a real redis-server, the local OIDC realm with its sign-in page (oidc-login.ts) and
 * hubgate serving /console. Used by `npm run sandbox` / `npm run up` without a Harbor, and by the browser test.
 */
import { startRegistry, freePort } from './registry';
import { startRedis } from './redis';
import { startJwks, type TestIdp } from './tokens';
import { enableCodeFlow, SANDBOX_USERS, type CodeFlow } from './oidc-login';
import { startHarborDouble } from '../harbor-double';
import { startHubgate, testConfig } from './stack';

export interface ConsoleStack {
  hubUrl: string;
  consoleUrl: string;
  harborUrl: string;
  registryUrl: string;
  redisUrl: string;
  idp: TestIdp;
  flow: CodeFlow;
  logs: string[];
  stop(): Promise<void>;
}

export async function startConsoleStack(opts: { port?: number; env?: Record<string, string>; accessTokenSeconds?: number; logLevel?: string } = {}): Promise<ConsoleStack> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const registry = await startRegistry();
    stops.push(() => registry.stop());
    const harbor = await startHarborDouble({ registryUrl: registry.url });
    stops.push(() => harbor.close());
    const redis = await startRedis();
    stops.push(() => redis.close());
    const idp = await startJwks();
    stops.push(() => idp.close());

    let port = opts.port ?? (await freePort());
    let hub;
    for (let attempt = 0; ; attempt++) {
      const url = `http://127.0.0.1:${port}`;
      const env = { HUBGATE_PORT: String(port), HUBGATE_PUBLIC_URL: url, LOG_LEVEL: opts.logLevel ?? 'debug', ...opts.env };
      try {
        hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env }));
        break;
      } catch (e) {
        if (attempt > 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
        port = await freePort(); // the preferred port is taken: any free one
      }
    }
    stops.push(() => hub.close());
    const hubUrl = `http://127.0.0.1:${port}`;
    const flow = enableCodeFlow(idp, {
      clientId: idp.audience,
      redirectPrefixes: [`${hubUrl}/console/`],
      users: SANDBOX_USERS,
      accessTokenSeconds: opts.accessTokenSeconds,
    });
    return {
      hubUrl,
      consoleUrl: `${hubUrl}/console/`,
      harborUrl: harbor.url,
      registryUrl: registry.url,
      redisUrl: redis.url,
      idp,
      flow,
      logs: hub.logs,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
