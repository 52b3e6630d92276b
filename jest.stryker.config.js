/**
 * Jest config for StrykerJS: the `unit` project of jest.config.js, plus the e2e files that test an adapter against
 * a real local service Stryker's sandbox can start by itself on a random loopback port (redis-server, and
 * docker-registry without Harbor for the registry client): a few seconds a run. Those adapters are only really
 * tested there; a fake server would only test the fake. No other e2e file is run (they start the Harbor double,
 * hubgate and registry clients). Stryker's sandbox copy (.stryker-tmp/) is kept out of the haste map.
 */
const base = require('./jest.config.js');

const unit = base.projects.find((p) => p.displayName === 'unit');
if (!unit) throw new Error('jest.config.js has no "unit" project');

const ADAPTER_E2E = ['redis.coordination.test.ts', 'console-actions.store.test.ts', 'change.feed.test.ts', 'registry.client.e2e.test.ts'];

module.exports = {
  ...unit,
  testMatch: [...unit.testMatch, ...ADAPTER_E2E.map((f) => `<rootDir>/test/e2e/${f}`)],
  testTimeout: base.testTimeout,
  modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/', '<rootDir>/reports/'],
};
