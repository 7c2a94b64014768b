/**
 * `npm run demo`: the demo app with two embedded OpenID providers, no other services needed.
 *
 *   PORT=3000            the app's port on 127.0.0.1 (default 3000)
 *   REDIS_URL=redis://…  keep sessions in Redis (default: in memory, lost on restart)
 *   SESSION_SECRET=…     the session cookie signing key (default: random at each start)
 */
import { startDemo, DEMO_PROVIDERS } from './start.js';

function portFromEnv(): number {
  const raw = process.env.PORT;
  if (raw === undefined || raw === '') return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** The Redis URL without its password, for printing. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return '(unparsable REDIS_URL)';
  }
}

async function main(): Promise<void> {
  const redisUrl = process.env.REDIS_URL || undefined;
  const demo = await startDemo({ port: portFromEnv(), interactive: true, redisUrl });

  const providers = DEMO_PROVIDERS.map(({ name, label }) => `${label} at ${demo.providers[name]!.issuer}`).join(', ');
  console.log(`
  koa-session-openid demo

  Open ${demo.url} — log in with any name, any password

  Providers: ${providers} (embedded, development only)
  Sessions:  ${redisUrl ? `in Redis, ${redacted(redisUrl)} (REDIS_URL)` : 'in memory, lost on restart (set REDIS_URL to keep them in Redis)'}
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
    // Should anything hang (a stuck connection), do not keep the terminal waiting.
    setTimeout(() => {
      console.error('Shutdown took over 5 s; exiting.');
      process.exit(1);
    }, 5000).unref();
    demo.close().then(
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
  console.error(`The demo could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
