/**
 * Runs the custom-login-handler example against an OpenID provider of your choice:
 *
 *   OIDC_ISSUER=https://op.example OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... \
 *     npx tsx examples/custom-login-handler/main.ts
 *
 * Register `<BASE_URL>/openid/sso/auth` as the client's redirect URI. Without a provider of your
 * own, start the development provider in another terminal first:
 *
 *   npm run dev-provider -- --client example:dev-secret:http://localhost:3000/openid/sso/auth
 *   OIDC_ISSUER=http://127.0.0.1:4000 OIDC_CLIENT_ID=example OIDC_CLIENT_SECRET=dev-secret \
 *     npx tsx examples/custom-login-handler/main.ts
 *
 *   PORT=3000   BASE_URL=http://localhost:PORT   REDIS_URL=redis://… (default: sessions in memory)
 */
import { oidcProviderFromEnv } from '../shared/env.js';
import { runExample } from '../shared/serve.js';
import { createCustomLoginApp } from './app.js';

runExample('examples/custom-login-handler/main.ts', ({ baseUrl, redisUrl }) =>
  createCustomLoginApp({ provider: oidcProviderFromEnv(), baseUrl, redisUrl }),
);
