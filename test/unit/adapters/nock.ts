import nock from 'nock';

/**
 * nock (CommonJS build, v14) with the few helpers the adapter tests share.
 *
 * nock patches Node's own `http` module, which jest does not sandbox: with `--runInBand` every later test file
 * in the same process would still go through this file's interceptor (and real clients in the end-to-end tests
 * break on it). So a file that uses nock restores `http` when it is done.
 */
afterAll(() => {
  nock.cleanAll();
  nock.restore();
});

export default nock;

export type Scope = nock.Scope;
export type NockOptions = nock.Options;
/** A recorded JSON body as nock's request-body matcher (deep equality). */
export const bodyMatcher = (body: unknown): nock.DataMatcherMap => body as nock.DataMatcherMap;
