/**
 * `npm run example:spa`: a static single-page app (plain JavaScript) that logs in by itself at an
 * embedded OpenID provider and calls a bearer-protected Koa API. No other services needed.
 *
 *   PORT=3001   the app's port on 127.0.0.1 (default 3001)
 */
import { portFromEnv } from '../shared/env.js';
import { closeOnSignals } from '../shared/serve.js';
import { startSpaExample } from './start.js';

async function main(): Promise<void> {
  const example = await startSpaExample({ port: portFromEnv(3001), interactive: true });
  closeOnSignals(() => example.close());
  console.log(`
  koa-session-openid: single-page app + bearer API

  Open ${example.url}/ — log in with any name, any password

  Provider: ${example.provider.issuer} (embedded, development only), public client "${example.clientId}"
  API:      ${example.url}/api/me, ${example.url}/api/admin (JWT access tokens for ${example.resource})
  Stop with Ctrl+C.
`);
}

main().catch((err: unknown) => {
  console.error(`The example could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
