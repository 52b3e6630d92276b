// @ts-check
/**
 * StrykerJS over src/config.ts with jest.stryker.settings.config.js: the settings of stryker.config.mjs, only the
 * suites that load the configuration run (about 10 minutes for its ~450 mutants here). `npx stryker run
 * stryker.settings.config.mjs --incremental`.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import full from './stryker.config.mjs';

export default {
  ...full,
  jest: { ...full.jest, configFile: 'jest.stryker.settings.config.js' },
  mutate: ['src/config.ts'],
  htmlReporter: { fileName: 'reports/mutation/settings/index.html' },
  jsonReporter: { fileName: 'reports/mutation/settings/mutation.json' },
  incrementalFile: 'reports/mutation/settings/stryker-incremental.json',
};
