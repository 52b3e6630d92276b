/** The registry front (`/v2/…`, `/service/token`): see router.ts. */
export { createRegistryRouter, type RegistryRouterDeps } from './router';
export { classify, challengeScope, isRegistryPath, OPERATION_IDS, type OperationId, type RegistryOperation } from './operations';
export { rewriteChallenge, rewriteLocation, bearerChallenge, tokenRealm, TOKEN_SERVICE } from './headers';
export { LoginThrottle, type ThrottleSettings } from './throttle';
export { createKeepAliveAgent } from './proxy';
