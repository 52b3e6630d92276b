/**
 * Jest config for StrykerJS: the `unit` project of jest.config.js only (mutation testing never starts the e2e
 * processes). Stryker's sandbox copy (.stryker-tmp/) is kept out of the haste map.
 */
const base = require('./jest.config.js');

const unit = base.projects.find((p) => p.displayName === 'unit');
if (!unit) throw new Error('jest.config.js has no "unit" project');

module.exports = {
  ...unit,
  testTimeout: base.testTimeout,
  modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/', '<rootDir>/reports/'],
};
