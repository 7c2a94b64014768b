/**
 * An example's settings from environment variables, for its main.ts (whose top lists them). A
 * required variable that is not set is an error naming it.
 */
import type { AzureClient, KeycloakClient, ProviderClient, Site } from './options.js';

type Env = NodeJS.ProcessEnv;

/** The variable's value; an error naming it when it is not set (or empty). */
export function requiredEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** `PORT`, else `fallback`; anything but a port number (0-65535) is an error. */
export function portFromEnv(fallback: number, env: Env = process.env): number {
  const raw = env.PORT;
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

/**
 * Where the example runs: `PORT` (default 3000) and `HOST` (default 127.0.0.1; 0.0.0.0 in a
 * container) to listen on, `BASE_URL` the origin browsers use (default `http://localhost:PORT`),
 * `REDIS_URL` for the sessions (default: in memory).
 */
export function siteFromEnv(env: Env = process.env): Site & { port: number; host: string } {
  const port = portFromEnv(3000, env);
  return {
    port,
    host: env.HOST || '127.0.0.1',
    baseUrl: env.BASE_URL || `http://localhost:${port}`,
    redisUrl: env.REDIS_URL || undefined,
  };
}

/**
 * Any OpenID provider: `OIDC_ISSUER` (its issuer or discovery URL), `OIDC_CLIENT_ID`,
 * `OIDC_CLIENT_SECRET`. Plain http only for a provider on this machine (the development provider).
 */
export function oidcProviderFromEnv(env: Env = process.env): ProviderClient {
  const issuer = requiredEnv('OIDC_ISSUER', env);
  return {
    configuration: issuer,
    clientId: requiredEnv('OIDC_CLIENT_ID', env),
    clientSecret: requiredEnv('OIDC_CLIENT_SECRET', env),
    allowInsecureRequests: /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(issuer),
  };
}

/**
 * A Keycloak realm: `KEYCLOAK_URL`, `KEYCLOAK_REALM`, `KEYCLOAK_CLIENT_ID`, `KEYCLOAK_CLIENT_SECRET`,
 * and `KEYCLOAK_INTERNAL_URL` when the app reaches Keycloak by another name than browsers do (Docker).
 */
export function keycloakFromEnv(env: Env = process.env): KeycloakClient {
  return {
    url: requiredEnv('KEYCLOAK_URL', env),
    realm: requiredEnv('KEYCLOAK_REALM', env),
    clientId: requiredEnv('KEYCLOAK_CLIENT_ID', env),
    clientSecret: requiredEnv('KEYCLOAK_CLIENT_SECRET', env),
    internalUrl: env.KEYCLOAK_INTERNAL_URL || undefined,
  };
}

/**
 * A multi-tenant Entra ID app: `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, and `AZURE_ALLOWED_TENANTS`,
 * the tenant ids whose users may log in (comma-separated).
 */
export function azureFromEnv(env: Env = process.env): AzureClient {
  return {
    clientId: requiredEnv('AZURE_CLIENT_ID', env),
    clientSecret: requiredEnv('AZURE_CLIENT_SECRET', env),
    allowedTenants: requiredEnv('AZURE_ALLOWED_TENANTS', env)
      .split(',')
      .map((tenant) => tenant.trim().toLowerCase())
      .filter(Boolean),
  };
}
