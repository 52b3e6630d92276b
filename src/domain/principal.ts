/** Who is calling, as established from a verified Keycloak token (see adapters/identity). */
export interface PlatformProject {
  /** Stable platform project id (from the token claims). */
  id: string;
  /** Display name of the project. */
  name: string;
  /** Department (tenant) the project belongs to. */
  department: string;
}

export interface Principal {
  userId: string;
  username: string;
  /** Cloud admin: views and manages everything (gateway's Harbor admin identity). */
  isCloudAdmin: boolean;
  /** Platform projects the user has joined. */
  projects: PlatformProject[];
}

export const memberOf = (p: Principal, projectId: string): boolean => p.projects.some((x) => x.id === projectId);
