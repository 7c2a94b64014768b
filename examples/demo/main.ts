/**
 * `npm run demo`: the demo app with two embedded OpenID providers, no other services needed.
 *
 *   PORT=3000            the app's port on 127.0.0.1 (default 3000)
 *   REDIS_URL=redis://…  keep sessions in Redis (default: in memory, lost on restart)
 */
import { portFromEnv } from '../shared/env.js';
import { closeOnSignals } from '../shared/serve.js';
import { startDemo, DEMO_PROVIDERS } from './start.js';

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
  const demo = await startDemo({ port: portFromEnv(3000), interactive: true, redisUrl });
  closeOnSignals(() => demo.close());

  const providers = DEMO_PROVIDERS.map(({ name, label }) => `${label} at ${demo.providers[name]!.issuer}`).join(', ');
  console.log(`
  koa-session-openid demo

  Open ${demo.url} — log in with any name, any password

  Providers: ${providers} (embedded, development only)
  Sessions:  ${redisUrl ? `in Redis, ${redacted(redisUrl)} (REDIS_URL)` : 'in memory, lost on restart (set REDIS_URL to keep them in Redis)'}
  Stop with Ctrl+C.
`);
}

main().catch((err: unknown) => {
  console.error(`The demo could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
