import 'dotenv/config';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './observability/logger';
import { mallocSettings, tuneGarbageCollector } from './runtime';
import { startServer } from './server';

async function main(): Promise<void> {
  const gcTuned = tuneGarbageCollector();
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`hubgate: ${e.message}. See .env.example for every setting.`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const malloc = mallocSettings();
  logger.info('runtime', { node: process.version, v8_incremental_marking: gcTuned ? 'off' : 'as given on the command line', malloc });
  if (Object.values(malloc).includes('unset')) {
    logger.warn('glibc malloc settings missing from the environment: streaming blobs may cost several times the CPU', {
      missing: Object.keys(malloc).filter((k) => malloc[k] === 'unset'),
      see: 'docs/registry.md, Performance',
    });
  }
  const running = await startServer(config, { logger });
  const stop = (signal: string) => {
    logger.info('shutting down: draining in-flight requests', { signal, timeout_ms: config.shutdownTimeoutMs });
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: reason }));
}

main().catch((e) => {
  console.error('hubgate failed to start:', e instanceof Error ? e.message : e);
  process.exit(1);
});
