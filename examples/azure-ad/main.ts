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
 *
 * Entra ID accepts http redirect URIs for localhost only: keep BASE_URL's host `localhost`.
 */
import { azureFromEnv } from '../shared/env.js';
import { runExample } from '../shared/serve.js';
import { createAzureAdApp } from './app.js';

runExample('examples/azure-ad/main.ts', ({ baseUrl, redisUrl }) => createAzureAdApp({ ...azureFromEnv(), baseUrl, redisUrl }));
