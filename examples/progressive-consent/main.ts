/**
 * Runs the progressive-consent example against an OpenID provider of your choice:
 *
 *   OIDC_ISSUER=https://op.example OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... \
 *     npx tsx examples/progressive-consent/main.ts
 *
 * Register `<BASE_URL>/openid/sso/auth` as the client's redirect URI. Without a provider of your
 * own, start the development provider in another terminal first:
 *
 *   npm run dev-provider -- --client example:dev-secret:http://127.0.0.1:3000/openid/sso/auth
 *   OIDC_ISSUER=http://127.0.0.1:4000 OIDC_CLIENT_ID=example OIDC_CLIENT_SECRET=dev-secret \
 *     npx tsx examples/progressive-consent/main.ts
 *
 *   PORT=3000   BASE_URL=http://127.0.0.1:PORT   REDIS_URL=redis://… (default: sessions in memory)
 */
import { closeOnSignals, portFromEnv } from '../shared/serve.js';
import { createProgressiveConsentApp } from './app.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the top of examples/progressive-consent/main.ts)`);
  return value;
}

function main(): void {
  const port = portFromEnv(3000);
  const baseUrl = process.env.BASE_URL || `http://127.0.0.1:${port}`;
  const issuer = env('OIDC_ISSUER');
  const example = createProgressiveConsentApp({
    configuration: issuer,
    clientId: env('OIDC_CLIENT_ID'),
    clientSecret: env('OIDC_CLIENT_SECRET'),
    baseUrl,
    redisUrl: process.env.REDIS_URL,
    // Plain http only for a provider on this machine (the development provider).
    allowInsecureRequests: /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(issuer),
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
