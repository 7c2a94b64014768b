/**
 * The Keycloak example (app.ts) from environment variables:
 *
 *   KEYCLOAK_URL            Keycloak as browsers reach it, e.g. http://localhost:8080
 *   KEYCLOAK_REALM          the realm, e.g. demo
 *   KEYCLOAK_CLIENT_ID      the confidential client registered in the realm
 *   KEYCLOAK_CLIENT_SECRET  its secret
 *   BASE_URL                this app's public origin (default http://localhost:3000)
 *   REDIS_URL               where sessions live (default: in memory, development only)
 *   KEYCLOAK_INTERNAL_URL   Keycloak as this app reaches it, when that differs (Docker)
 *   PORT, HOST              where to listen (default 3000 on 127.0.0.1; 0.0.0.0 in a container)
 *
 * `docker compose -f docker/compose.yml up --build` runs it with a real Keycloak (docker/README.md).
 */
import { createServer } from 'node:http';

import { closeOnSignals, portFromEnv } from '../shared/serve.js';
import { createKeycloakApp, optionsFromEnv } from './app.js';

function main(): void {
  const options = optionsFromEnv(process.env);
  const example = createKeycloakApp(options);
  const port = portFromEnv(3000);
  const host = process.env.HOST || '127.0.0.1';
  const server = createServer(example.app.callback());
  server.listen(port, host, () => {
    console.log(`Keycloak example: open ${options.baseUrl} (realm "${options.realm}" at ${options.keycloakUrl}); listening on ${host}:${port}`);
  });
  closeOnSignals(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await example.close();
  });
}

try {
  main();
} catch (err) {
  console.error(`The Keycloak example could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
