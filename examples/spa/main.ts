/**
 * `npm run example:spa`: a static single-page app (plain JavaScript) that logs in by itself at an
 * embedded OpenID provider and calls a bearer-protected Koa API. No other services needed.
 *
 *   PORT=3001   the app's port on 127.0.0.1 (default 3001)
 */
import { startSpaExample } from './start.js';

function portFromEnv(): number {
  const raw = process.env.PORT;
  if (raw === undefined || raw === '') return 3001;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

async function main(): Promise<void> {
  const example = await startSpaExample({ port: portFromEnv(), interactive: true });

  console.log(`
  koa-session-openid: single-page app + bearer API

  Open ${example.url}/ — log in with any name, any password

  Provider: ${example.provider.issuer} (embedded, development only), public client "${example.clientId}"
  API:      ${example.url}/api/me, ${example.url}/api/admin (JWT access tokens for ${example.resource})
  Stop with Ctrl+C.
`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`\n${signal} again: exiting now.`);
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: shutting down...`);
    setTimeout(() => {
      console.error('Shutdown took over 5 s; exiting.');
      process.exit(1);
    }, 5000).unref();
    example.close().then(
      () => console.log('Stopped.'),
      (err: unknown) => {
        console.error('Shutdown failed:', err);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`The example could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
