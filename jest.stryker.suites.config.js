/**
 * Jest config for StrykerJS runs over a few files with only the suites that test them (stryker.suites.config.mjs):
 * jest.stryker.config.js narrowed to the comma-separated globs of HUBGATE_MUTATION_SUITES (paths from the
 * repository root). With the full config a mutant in a widely used helper re-runs every suite that touches it
 * (hours for the registry headers or the name checks); a narrower set can only miss a kill, never invent one, so
 * its scores are lower bounds.
 */
const base = require('./jest.stryker.config.js');

const suites = (process.env.HUBGATE_MUTATION_SUITES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
if (!suites.length) throw new Error('HUBGATE_MUTATION_SUITES is empty: name the test files to run (comma-separated globs)');

module.exports = { ...base, testMatch: suites.map((f) => `<rootDir>/${f}`) };
