import type { Principal } from '../domain/principal';

/** Verifies a bearer token issued by Keycloak and maps its claims to a Principal. */
export interface TokenVerifier {
  /** Throws AppError unauthorized (message says why: expired, issuer, audience, signature, ...). */
  verify(token: string): Promise<Principal>;
}
