import nock from 'nock';

/** nock (CommonJS build, v14) with the few helpers the adapter tests share. */
export default nock;

export type Scope = nock.Scope;
export type NockOptions = nock.Options;
/** A recorded JSON body as nock's request-body matcher (deep equality). */
export const bodyMatcher = (body: unknown): nock.DataMatcherMap => body as nock.DataMatcherMap;
