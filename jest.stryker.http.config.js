/**
 * Jest config for StrykerJS runs over the HTTP layer (stryker.http.config.mjs): jest.stryker.config.js narrowed to
 * the suites that drive the API through HTTP (the app kit, the route suites, the audit and server tests). With the
 * full config a mutant loads every test file that imports its file, directly or not (32 for validate.ts, 58 for
 * metrics.ts); here 11–13. A narrower set can only miss a kill, never invent one: its scores are lower bounds.
 */
const base = require('./jest.stryker.config.js');

const SUITES = [
  'test/unit/http/*.test.ts',
  'test/unit/policies/policies.routes.test.ts',
  'test/unit/policies/limits.routes.test.ts',
  'test/unit/uploads/routes.test.ts',
  'test/unit/images/images.http.test.ts',
  'test/unit/gc/gc.test.ts',
  'test/unit/observability/*.test.ts',
  'test/unit/server.test.ts',
];

module.exports = { ...base, testMatch: SUITES.map((f) => `<rootDir>/${f}`) };
