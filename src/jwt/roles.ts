/**
 * Roles as providers put them in tokens. Keycloak: realm roles in `realm_access.roles`, client
 * roles in `resource_access.<client id>.roles`, in the access token by default (not the ID token).
 * Microsoft Entra ID: app roles in `roles` (ID token and access token alike; `scp` holds delegated
 * scopes, not roles).
 */

/** A login's Keycloak roles: the realm's, and each client's. */
export interface KeycloakRoles {
  realm: string[];
  clients: Record<string, string[]>;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const object = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

export function keycloakRoles(claims: Record<string, unknown>): KeycloakRoles {
  const clients: Record<string, string[]> = {};
  for (const [client, access] of Object.entries(object(claims.resource_access))) {
    const roles = strings(object(access).roles);
    if (roles.length) clients[client] = roles;
  }
  return { realm: strings(object(claims.realm_access).roles), clients };
}

/** Entra ID app roles (`roles`). */
export const appRoles = (claims: Record<string, unknown>): string[] => strings(claims.roles);
