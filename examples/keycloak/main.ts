/**
 * The Keycloak example (app.ts) from environment variables:
 *
 *   KEYCLOAK_URL            Keycloak as browsers reach it, e.g. http://localhost:8080
 *   KEYCLOAK_REALM          the realm, e.g. demo
 *   KEYCLOAK_CLIENT_ID      the confidential client registered in the realm
 *   KEYCLOAK_CLIENT_SECRET  its secret
 *   BASE_URL                this app's public origin (default http://localhost:PORT)
 *   REDIS_URL               where sessions live (default: in memory, development only)
 *   KEYCLOAK_INTERNAL_URL   Keycloak as this app reaches it, when that differs (Docker)
 *   PORT, HOST              where to listen (default 3000 on 127.0.0.1; 0.0.0.0 in a container)
 *
 * `docker compose -f docker/compose.yml up --build` runs it with a real Keycloak (docker/README.md).
 */
import { runExample } from '../shared/serve.js';
import { createKeycloakApp, optionsFromEnv } from './app.js';

runExample('examples/keycloak/main.ts', () => createKeycloakApp(optionsFromEnv(process.env)));
