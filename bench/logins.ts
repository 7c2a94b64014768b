/**
 * `npm run bench:logins`: the app's CPU per full code-flow login, the library (L) against a minimal
 * hand-written openid-client 6 login doing the same checks (H, bench/session-servers.ts), side by
 * side in one run. Target (issue 8): L / H <= 1.1.
 *
 * Each login is what a browser without JavaScript does (bench/session-login.ts): GET /me → the
 * app's login route → the provider (the dev provider, oidc-provider, in this process on core 0,
 * finishing its interaction by itself) → the app's callback (code grant, ID token checks, the
 * session stored in Redis) → /me with the session. The provider's own signing dominates the
 * logins per second on two cores, so the figure compared is the app process's CPU time per login
 * (/proc, 10 ms ticks), in batches alternating between the two servers (L H H L ...); the ratio is
 * the median of the batch pairs', printed with its range.
 *
 *   --batches 8 --logins 100 --concurrency 8 --warmup 300   (logins per server before measuring)
 *   --perf DIR     Linux perf: the servers run with --perf-basic-prof, both are recorded while measured (DIR/logins-L.perf.data, DIR/logins-H.perf.data)
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { DevProvider } from '../src/dev-provider/index.js';
import { alternating, killEverything, message, onExit, packageVersion, SERVER_CORE, startServer, STEP_TIMEOUT_MS, stopServer, TASKSET, within, type Server } from './children.js';
import { median, processTicks } from './measure.js';
import { startRedis, type BenchRedis } from './redis-server.js';
import { login } from './session-login.js';
import { ACCOUNT, RESOURCE, SCOPES, startBenchProvider } from './session-provider.js';
import type { ServerConfig } from './session-servers.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '8' },
    logins: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '300' },
    perf: { type: 'string' },
  },
});
const PERF_DIR = args.perf;
const BATCHES = Number(args.batches);
const LOGINS = Number(args.logins);
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
for (const [name, value] of [['batches', BATCHES], ['logins', LOGINS], ['concurrency', CONCURRENCY], ['warmup', WARMUP]] as const) {
  if (!Number.isInteger(value) || value < 1 || value > 1000) throw new TypeError(`--${name} must be a whole number from 1 to 1000`);
}
const TARGET = 1.1;
const CLIENT = { clientId: 'bench-login', clientSecret: 'bench-login-secret (not secret)' };

let redis: BenchRedis | undefined;
let op: DevProvider | undefined;
onExit(() => redis?.kill());

/** `count` logins, `concurrency` at a time; the server's CPU ticks (10 ms) per login, in µs. */
async function batch(server: Server, count: number): Promise<number> {
  const start = `http://127.0.0.1:${server.port}/me`;
  let next = 0;
  const before = processTicks(server.child.pid)!;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        const result = await within(login(start), STEP_TIMEOUT_MS, `login at ${server.scenario}`);
        if ((JSON.parse(result.body) as { sub?: unknown }).sub !== ACCOUNT) throw new Error(`${server.scenario}: the login answered ${result.body.slice(0, 200)}`);
      }
    }),
  );
  return ((processTicks(server.child.pid)! - before) * 10_000) / count;
}

async function main(): Promise<number> {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`machine: ${model}, ${cpus().length} cores, Node ${process.version}`);
  console.log(`command: npm run bench:logins  (tsx bench/logins.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''})`);
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  redis = await startRedis(TASKSET ? SERVER_CORE : undefined);
  const flags = PERF_DIR ? ['--perf-basic-prof'] : [];
  const servers = [await startServer('L', flags), await startServer('H', flags)];
  const origins = servers.map((s) => `http://127.0.0.1:${s.port}`);
  op = await startBenchProvider([{ ...CLIENT, redirectUris: origins.flatMap((o) => [`${o}/openid/bench/auth`, `${o}/callback`]) }]);
  const config: ServerConfig = {
    redisUrl: redis.url,
    secret: 'unused',
    scopes: SCOPES,
    resource: RESOURCE,
    providers: [{ name: 'bench', issuer: op.issuer, ...CLIENT }],
  };
  for (const server of servers) {
    const ready = message<{ ready: true }>(server.child, 'ready', `server ${server.scenario} setup`);
    server.child.send({ config });
    await ready;
  }
  if (TASKSET) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  console.log(
    `stack: openid-client ${packageVersion('openid-client')}, jose ${packageVersion('jose')}, koa ${packageVersion('koa')}, ioredis ${packageVersion('ioredis')}, ` +
      `oidc-provider ${packageVersion('oidc-provider')} (in this process, core 0); servers and redis-server ${redis.version} on core ${SERVER_CORE}`,
  );
  console.log(`load: ${BATCHES} batches of ${LOGINS} logins per server, ${CONCURRENCY} at a time, alternating; first ${WARMUP} logins each to warm up`);
  const [L, H] = servers as [Server, Server];
  // Warm-up: until the code of both is optimized (few logins run mostly unoptimized code).
  await batch(L, WARMUP);
  await batch(H, WARMUP);
  const perf = PERF_DIR
    ? servers.map((s) => spawn('perf', ['record', '-F', '999', '-g', '-p', String(s.child.pid), '-o', join(PERF_DIR, `logins-${s.scenario}.perf.data`)], { stdio: 'ignore' }))
    : [];
  const [l, h] = await alternating(BATCHES, () => batch(L, LOGINS), () => batch(H, LOGINS));
  for (const p of perf) {
    p.kill('SIGINT');
    await once(p, 'exit');
  }
  const ratios = l.map((x, i) => x / h[i]!);
  console.log(`L  library: CPU µs per login      ${l.map((x) => x.toFixed(0)).join(' ')}  median ${median(l).toFixed(0)}`);
  console.log(`H  hand-written: CPU µs per login ${h.map((x) => x.toFixed(0)).join(' ')}  median ${median(h).toFixed(0)}`);
  const ratio = median(ratios);
  const pass = ratio <= TARGET;
  console.log(
    `\ntarget (issue 8):\n  L/H = ${ratio.toFixed(3)}  (target <= ${TARGET}: ${pass ? 'PASS' : 'MISS'}; median of ${BATCHES} batch pairs, ` +
      `range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}; ratio of the medians ${(median(l) / median(h)).toFixed(3)})`,
  );
  for (const server of servers) await stopServer(server);
  return 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(err);
} finally {
  await op?.close().catch(() => {});
  await redis?.stop();
  redis = undefined;
  killEverything();
}
process.exit(exitCode);
