/**
 * The multiple-providers example (app.ts) from environment variables:
 *
 *   KEYCLOAK_URL            Keycloak as browsers reach it, e.g. http://localhost:8080
 *   KEYCLOAK_REALM          the realm, e.g. demo
 *   KEYCLOAK_CLIENT_ID      the confidential client registered in the realm
 *   KEYCLOAK_CLIENT_SECRET  its secret
 *   KEYCLOAK_INTERNAL_URL   Keycloak as this app reaches it, when that differs (Docker)
 *   AZURE_CLIENT_ID         the Entra ID app registration ("Accounts in any organizational directory")
 *   AZURE_CLIENT_SECRET     its client secret
 *   AZURE_ALLOWED_TENANTS   the tenant ids whose users may log in, comma-separated
 *   BASE_URL                this app's public origin (default http://localhost:PORT)
 *   REDIS_URL               where sessions live (default: in memory, development only)
 *   PORT, HOST              where to listen (default 3000 on 127.0.0.1)
 *
 * Register at Keycloak (the client): valid redirect URI `<BASE_URL>/auth/keycloak`, valid post
 * logout redirect URI `<BASE_URL>/logged-out/keycloak`, backchannel logout URL
 * `<BASE_URL>/backchannel-logout/keycloak` with "Backchannel logout session required" on.
 * At Entra ID (the app registration, platform Web): redirect URIs `<BASE_URL>/auth/azure` and
 * `<BASE_URL>/logged-out/azure` (where Entra ID sends the browser back after logging out), and the
 * front-channel logout URL `<BASE_URL>/frontchannel-logout/azure`. Entra ID accepts http redirect
 * URIs for localhost only.
 */
import { azureFromEnv, keycloakFromEnv } from '../shared/env.js';
import { runExample } from '../shared/serve.js';
import { createMultipleProvidersApp } from './app.js';

runExample('examples/multiple-providers/main.ts', ({ baseUrl, redisUrl }) =>
  createMultipleProvidersApp({ keycloak: keycloakFromEnv(), azure: azureFromEnv(), baseUrl, redisUrl }),
);
