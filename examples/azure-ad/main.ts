/**
 * Runs the Entra ID (Azure AD) example against Microsoft:
 *
 *   AZURE_CLIENT_ID=<application (client) id> AZURE_CLIENT_SECRET=<client secret value> \
 *   AZURE_ALLOWED_TENANTS=<tenant id>[,<tenant id>...] npx tsx examples/azure-ad/main.ts
 *
 * In the Entra admin center (App registrations → New registration): "Accounts in any
 * organizational directory", Web redirect URI `http://localhost:3000/openid/azure/auth`, then a
 * client secret ("Certificates & secrets"), an app role `Admin` ("App roles", assigned under
 * Enterprise applications), and under "Expose an API" the Application ID URI `api://<client id>`
 * with the scope `access_as_user` (set "accessTokenAcceptedVersion": 2 in the manifest for v2 tokens).
 *
 *   PORT=3000   BASE_URL=http://localhost:PORT   REDIS_URL=redis://… (default: sessions in memory)
 */
import { closeOnSignals, portFromEnv } from '../shared/serve.js';
import { createAzureAdApp } from './app.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the top of examples/azure-ad/main.ts)`);
  return value;
}

function main(): void {
  const port = portFromEnv(3000);
  // Entra ID accepts http redirect URIs for localhost only.
  const baseUrl = process.env.BASE_URL || `http://localhost:${port}`;
  const example = createAzureAdApp({
    clientId: env('AZURE_CLIENT_ID'),
    clientSecret: env('AZURE_CLIENT_SECRET'),
    allowedTenants: env('AZURE_ALLOWED_TENANTS').split(',').map((tid) => tid.trim().toLowerCase()),
    baseUrl,
    redisUrl: process.env.REDIS_URL,
  });
  const server = example.app.listen(port, '127.0.0.1', () => console.log(`Open ${baseUrl}/`));
  closeOnSignals(async () => {
    server.close();
    await example.close();
  });
}

try {
  main();
} catch (err) {
  console.error(`The example could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
