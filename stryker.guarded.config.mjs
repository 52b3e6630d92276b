// @ts-check
/**
 * StrykerJS, guarded run: the files that keep tenants apart and secrets secret. Breaks below 90%.
 * `npm run test:mutation:guarded` (CI) — add `-- --incremental` locally.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import full from './stryker.config.mjs';

export const guarded = [
  'src/domain/credentials.service.ts',
  'src/http/registry/auth.ts',
  'src/http/registry/login.ts',
  'src/http/registry/token.ts',
  'src/http/registry/throttle.ts',
  'src/http/registry/bearer.ts',
  'src/http/registry/operations.ts',
  'src/observability/logger.ts',
  'src/domain/workspaces.service.ts',
  'src/domain/uploads/archive.ts',
  // who the caller is and which platform projects they belong to (OIDC token → Principal)
  'adapters/identity/oidc.verifier.ts',
  'adapters/identity/claims.mapper.ts',
];

export default {
  ...full,
  mutate: guarded,
  htmlReporter: { fileName: 'reports/mutation/guarded/index.html' },
  jsonReporter: { fileName: 'reports/mutation/guarded/mutation.json' },
  incrementalFile: 'reports/mutation/guarded/stryker-incremental.json',
  thresholds: { high: 95, low: 90, break: 90 },
};
