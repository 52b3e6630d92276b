// @ts-check
/**
 * StrykerJS over the HTTP layer (routes, middleware, app, errors, validation, the observability pieces they use)
 * with jest.stryker.http.config.js: the same settings as stryker.config.mjs, only the HTTP suites run. For a few
 * files: `npx stryker run stryker.http.config.mjs --mutate src/http/routes/gc.routes.ts --incremental`.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import full from './stryker.config.mjs';

export default {
  ...full,
  jest: { ...full.jest, configFile: 'jest.stryker.http.config.js' },
  mutate: ['src/http/routes/*.routes.ts', 'src/http/middleware/*.ts', 'src/http/app.ts', 'src/http/errors.ts', 'src/http/validate.ts', 'src/observability/*.ts', 'src/server.ts'],
  htmlReporter: { fileName: 'reports/mutation/http/index.html' },
  jsonReporter: { fileName: 'reports/mutation/http/mutation.json' },
  incrementalFile: 'reports/mutation/http/stryker-incremental.json',
};
