/**
 * The end-to-end suites' switch to the fallback registry proxy engine (test/support/stack.ts): an unset or empty
 * HUBGATE_TEST_REGISTRY_PROXY_ENGINE changes nothing, a value reaches hubgate's HUBGATE_REGISTRY_PROXY_ENGINE as
 * given (a bad one is then refused by the configuration, naming it).
 */
import { loadConfig } from '../../../src/config';
import { CREDENTIAL_SECRET, engineUnderTest } from '../../support/stack';

const required = {
  HARBOR_URL: 'http://harbor.test',
  HARBOR_ADMIN_PASSWORD: 'pw',
  OIDC_ISSUER: 'http://idp.test/realms/r',
  OIDC_AUDIENCE: 'hubgate',
  HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
};

describe('engineUnderTest', () => {
  it('adds nothing when HUBGATE_TEST_REGISTRY_PROXY_ENGINE is unset or empty', () => {
    expect(engineUnderTest({})).toEqual({});
    expect(engineUnderTest({ HUBGATE_TEST_REGISTRY_PROXY_ENGINE: '' })).toEqual({});
  });

  it('passes the engine to the configuration, which selects it', () => {
    const env = engineUnderTest({ HUBGATE_TEST_REGISTRY_PROXY_ENGINE: 'http-proxy-middleware' });
    expect(env).toEqual({ HUBGATE_REGISTRY_PROXY_ENGINE: 'http-proxy-middleware' });
    expect(loadConfig({ ...required, ...env }).network.proxyEngine).toBe('http-proxy-middleware');
    expect(loadConfig(required).network.proxyEngine).toBe('node');
  });

  it('a bad engine name fails the configuration, naming the setting', () => {
    expect(() => loadConfig({ ...required, ...engineUnderTest({ HUBGATE_TEST_REGISTRY_PROXY_ENGINE: 'bogus' }) })).toThrow(
      'HUBGATE_REGISTRY_PROXY_ENGINE must be node or http-proxy-middleware, got "bogus"',
    );
  });
});
