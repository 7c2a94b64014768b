/**
 * Runs the progressive-consent example against an OpenID provider of your choice:
 *
 *   OIDC_ISSUER=https://op.example OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... \
 *     npx tsx examples/progressive-consent/main.ts
 *
 * Register `<BASE_URL>/openid/sso/auth` as the client's redirect URI. Without a provider of your
 * own, start the development provider in another terminal first:
 *
 *   npm run dev-provider -- --client example:dev-secret:http://localhost:3000/openid/sso/auth
 *   OIDC_ISSUER=http://127.0.0.1:4000 OIDC_CLIENT_ID=example OIDC_CLIENT_SECRET=dev-secret \
 *     npx tsx examples/progressive-consent/main.ts
 *
 *   PORT=3000   BASE_URL=http://localhost:PORT   REDIS_URL=redis://… (default: sessions in memory)
 */
import { oidcProviderFromEnv } from '../shared/env.js';
import { runExample } from '../shared/serve.js';
import { createProgressiveConsentApp } from './app.js';

runExample('examples/progressive-consent/main.ts', ({ baseUrl, redisUrl }) =>
  createProgressiveConsentApp({ provider: oidcProviderFromEnv(), baseUrl, redisUrl }),
);
