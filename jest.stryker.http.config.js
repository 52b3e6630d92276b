/**
 * Jest config for StrykerJS runs over the HTTP layer (stryker.http.config.mjs): jest.stryker.config.js narrowed to
 * the suites that drive the API through HTTP (the app kit, the route suites, the audit and server tests). Every
 * test file imports the routes through the app, so with the full config each route mutant loads ~100 test files;
 * here ~20. A narrower set can only miss a kill, never invent one: the scores it gives are lower bounds.
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
