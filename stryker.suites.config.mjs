// @ts-check
/**
 * StrykerJS over a few files with only the suites that test them: the settings of stryker.config.mjs, the files
 * from `--mutate`, the suites from HUBGATE_MUTATION_SUITES (comma-separated globs, read by
 * jest.stryker.suites.config.js). Scores are lower bounds. For example, src/config.ts with the suites that load
 * the configuration:
 *   HUBGATE_MUTATION_SUITES=test/unit/config.test.ts,test/unit/helm/chart.test.ts,test/unit/server.test.ts \
 *     npx stryker run stryker.suites.config.mjs --mutate src/config.ts --incremental
 * docs/testing.md names the suites each record was made with.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import full from './stryker.config.mjs';

export default {
  ...full,
  jest: { ...full.jest, configFile: 'jest.stryker.suites.config.js' },
  htmlReporter: { fileName: 'reports/mutation/suites/index.html' },
  jsonReporter: { fileName: 'reports/mutation/suites/mutation.json' },
  incrementalFile: 'reports/mutation/suites/stryker-incremental.json',
};
