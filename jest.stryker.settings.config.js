/**
 * Jest config for StrykerJS runs over src/config.ts (stryker.settings.config.mjs): jest.stryker.config.js narrowed to
 * the suites that load the configuration. With the full config every suite that builds a server loads config.ts;
 * here six. A narrower set can only miss a kill, never invent one: its scores are lower bounds.
 */
const base = require('./jest.stryker.config.js');

const SUITES = [
  'test/unit/config.test.ts',
  'test/unit/helm/chart.test.ts',
  'test/unit/server.test.ts',
  'test/unit/policies/limits.test.ts',
  'test/unit/observability/audit.test.ts',
  'test/unit/http/console.test.ts',
];

module.exports = { ...base, testMatch: SUITES.map((f) => `<rootDir>/${f}`) };
