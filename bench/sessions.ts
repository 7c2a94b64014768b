/**
 * `npm run bench:sessions`: requests/s of session-guarded and anonymous routes of this library
 * against express-openid-connect and bare Koa, side by side in one run, and the targets of issue 8:
 *
 *   L / E   >= 4     library GET /me with a logged-in session vs express-openid-connect 3 (Express 5,
 *                    connect-redis 8) on the same Redis and the same provider
 *   L / K   >= 0.45  the same L vs a bare Koa hello route (sent the same cookie)
 *   L2 / K2 >= 0.95  GET /public (touches no session) on the library's app with two providers vs the
 *                    same Koa app without the library; once for a visitor without a cookie, once
 *                    with a valid session cookie
 *   RSS     within 10%  the L server's resident memory after 10k and after 100k logged-in requests
 *                    (each read after a full garbage collection: the server runs with --expose-gc)
 *
 * One redis-server of its own (free port, no persistence) serves every server; the OpenID provider
 * is the dev provider (oidc-provider) in this process, issuing Keycloak-sized tokens
 * (bench/session-provider.ts). Each logged-in server does ONE real login at its start (plain HTTP,
 * following redirects, bench/session-login.ts) and is then loaded with that session cookie.
 *
 * As in bench/bearer.ts: each server is its own child process (bench/session-servers.ts) pinned to
 * core 1 (`taskset`), redis-server too (the server side, app and store, on one core); autocannon
 * runs here on core 0. The two servers of a pair run side by side and are loaded in turns, short
 * slices alternating (N D D N ...); the ratio is the median of the slice pairs' ratios, printed
 * with its range. The server's and Redis's CPU µs per request come from /proc. Not part of
 * `npm test`.
 *
 *   --slices 8 --duration 2 --warmup 2     slices per pair; seconds per slice; seconds of warm-up per server
 *   --pairs L/K,L2/K2,RSS                   only these pairs (RSS: the memory run)
 *   --perf DIR                              Linux perf: the servers run with --perf-basic-prof and each pair's
 *                                           numerator is recorded during its slices (DIR/<pair>.perf.data;
 *                                           `perf report -i … --no-children --sort symbol`)
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { DevProvider } from '../src/dev-provider/index.js';
import {
  alternating, killEverything, message, onExit, packageVersion, SERVER_CORE, startServer as startChild, STEP_TIMEOUT_MS, stopEverything, stopServer, TASKSET, within, type Server,
} from './children.js';
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { fmt, load, median, type Run } from './measure.js';
import { startRedis, type BenchRedis } from './redis-server.js';
import { login } from './session-login.js';
import { ACCOUNT, RESOURCE, SCOPES, startBenchProvider } from './session-provider.js';
import type { ProviderConfig, ServerConfig, SessionScenario } from './session-servers.js';

const { values: args } = parseArgs({
  options: {
    slices: { type: 'string', default: '8' },
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '2' },
    pairs: { type: 'string' },
    perf: { type: 'string' },
  },
});
const PERF_DIR = args.perf;
const SLICES = Number(args.slices);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
for (const [name, value] of [['slices', SLICES], ['duration', DURATION], ['warmup', WARMUP]] as const) {
  if (!Number.isInteger(value) || value < 1 || value > 60) throw new TypeError(`--${name} must be a whole number from 1 to 60`);
}
const CONNECTIONS = 100;
const startServer = (scenario: SessionScenario) => startChild(scenario, PERF_DIR ? ['--perf-basic-prof'] : []);

const SECRET = randomBytes(32).toString('base64url');
const PROVIDER_NAMES = ['bench', 'bench2'];
const KOA_CLIENT = { clientId: 'bench-koa', clientSecret: 'bench-koa-secret (not secret)' };
const EXPRESS_CLIENT = { clientId: 'bench-express', clientSecret: 'bench-express-secret (not secret)' };

interface Pair {
  id: string;
  num: SessionScenario;
  den: SessionScenario;
  numLabel: string;
  denLabel: string;
  path: string;
  /** each: both servers log in and send their own cookie; num: the numerator logs in, both send its cookie; none: no cookie. */
  cookie: 'each' | 'num' | 'none';
  target: number;
  title: string;
}

const PAIRS: Pair[] = [
  {
    id: 'L/E', num: 'L', den: 'E', path: '/me', cookie: 'each', target: 4, title: 'logged in, library vs express-openid-connect',
    numLabel: 'L   library: GET /me, required(), logged in', denLabel: 'E   express-openid-connect: GET /me, requiresAuth()',
  },
  {
    id: 'L/K', num: 'L', den: 'K', path: '/me', cookie: 'num', target: 0.45, title: 'logged in, library vs bare Koa',
    numLabel: 'L   library: GET /me, required(), logged in', denLabel: 'K   bare Koa hello (sent the same cookie)',
  },
  {
    id: 'L2/K2', num: 'L2', den: 'K2', path: '/public', cookie: 'none', target: 0.95, title: 'anonymous route, no cookie',
    numLabel: 'L2  library, 2 providers: GET /public, no cookie', denLabel: 'K2  same Koa app, no library: /public, no cookie',
  },
  {
    id: 'L2/K2 cookie', num: 'L2', den: 'K2', path: '/public', cookie: 'num', target: 0.95, title: 'anonymous route, valid session cookie',
    numLabel: 'L2  library, 2 providers: GET /public, session cookie', denLabel: 'K2  same Koa app, no library: /public, same cookie',
  },
];

const providers = new Set<DevProvider>();
let redis: BenchRedis | undefined;
onExit(() => {
  redis?.kill();
  redis = undefined;
});

// ---------------------------------------------------------------------------------------------
// What a login stored in Redis.

interface Stored {
  key: string;
  /** The serialized session's bytes (E: STRLEN; L: its hash's fields and values). */
  bytes: number;
  /** L: what a guard reads (HMGET of the secret's hash and the provider's hot login record). */
  hotBytes?: number;
  /** MEMORY USAGE (SAMPLES 0): what the key takes in Redis. */
  memory: number;
  accessToken: number;
  /** Claims of the access token when it is a JWT. */
  accessTokenClaims?: number;
  refreshToken: number;
  idToken: number;
  /** Claims of the ID token. */
  idTokenClaims: number;
  /** Claims the session keeps as such (the library keeps the validated claims; express-openid-connect only the ID token). */
  storedClaims?: number;
}

const decodeClaims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;

async function readStored(client: Redis, scenario: SessionScenario, cookieValue: string | undefined): Promise<Stored> {
  if (!cookieValue) throw new Error(`${scenario}: no session cookie after the login`);
  // L: one hash per session under the prefix and the cookie's tag (its characters 1-22).
  const key = scenario === 'E' ? `sess:${cookieValue}` : `koa-session-openid:${cookieValue.slice(1, 23)}`;
  const memory = Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
  let tokens: { access?: string; refresh?: string; id?: string };
  let storedClaims: number | undefined;
  let bytes: number;
  let hotBytes: number | undefined;
  if (scenario === 'E') {
    const raw = await client.get(key);
    if (raw === null) throw new Error(`${scenario}: no session under ${key}`);
    bytes = Buffer.byteLength(raw);
    const data = (JSON.parse(raw) as { data?: Record<string, string> }).data ?? {};
    tokens = { access: data.access_token, refresh: data.refresh_token, id: data.id_token };
  } else {
    const fields = await client.hgetall(key);
    if (!fields.k) throw new Error(`${scenario}: no session under ${key}`);
    bytes = Object.entries(fields).reduce((n, [f, v]) => n + Buffer.byteLength(f) + Buffer.byteLength(v), 0);
    const name = PROVIDER_NAMES[0]!;
    const hot = JSON.parse(fields[`l:${name}`] ?? '{}') as { c?: Record<string, unknown> };
    const cold = JSON.parse(fields[`t:${name}`] ?? '{}') as { at?: string; rt?: string; it?: string };
    hotBytes = Buffer.byteLength(fields.k) + Buffer.byteLength(fields[`l:${name}`] ?? '');
    tokens = { access: cold.at, refresh: cold.rt, id: cold.it };
    storedClaims = Object.keys(hot.c ?? {}).length;
  }
  return {
    key,
    bytes,
    ...(hotBytes !== undefined ? { hotBytes } : {}),
    memory,
    accessToken: tokens.access?.length ?? 0,
    ...(tokens.access?.split('.').length === 3 ? { accessTokenClaims: Object.keys(decodeClaims(tokens.access)).length } : {}),
    refreshToken: tokens.refresh?.length ?? 0,
    idToken: tokens.id?.length ?? 0,
    idTokenClaims: tokens.id ? Object.keys(decodeClaims(tokens.id)).length : 0,
    ...(storedClaims !== undefined ? { storedClaims } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// One pair: both servers side by side, logins, probe, warm-up, alternating slices.

interface PairResult {
  pair: Pair;
  num: Run[];
  den: Run[];
  stored: Partial<Record<SessionScenario, Stored>>;
}

function serverConfig(scenario: SessionScenario, redisUrl: string, ops: DevProvider[]): ServerConfig {
  const client = scenario === 'E' ? EXPRESS_CLIENT : KOA_CLIENT;
  const list: ProviderConfig[] = ops.map((op, i) => ({ name: PROVIDER_NAMES[i]!, issuer: op.issuer, ...client }));
  return { redisUrl, secret: SECRET, scopes: SCOPES, resource: RESOURCE, providers: list };
}

async function probe(server: Server, path: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  const hello = server.scenario === 'K' || server.scenario === 'K2' || path === '/public';
  let ok = res.status === 200;
  if (ok && hello) ok = body === 'hello';
  else if (ok) ok = (JSON.parse(body) as { sub?: unknown }).sub === ACCOUNT;
  if (!ok) throw new Error(`server ${server.scenario} answered ${path} with ${res.status} ${body.slice(0, 200)}`);
}

async function comparePair(pair: Pair, client: Redis, redisPid: number): Promise<PairResult> {
  const servers: Server[] = [];
  const ops: DevProvider[] = [];
  try {
    for (const scenario of [pair.num, pair.den]) servers.push(await startServer(scenario));
    const providerCount = servers.some((s) => s.scenario === 'L2') ? 2 : 1;
    for (let i = 0; i < providerCount; i++) {
      const origins = servers.map((s) => `http://127.0.0.1:${s.port}`);
      const op = await startBenchProvider([
        { ...KOA_CLIENT, redirectUris: origins.map((o) => `${o}/openid/${PROVIDER_NAMES[i]}/auth`) },
        { ...EXPRESS_CLIENT, redirectUris: origins.map((o) => `${o}/callback`) },
      ]);
      ops.push(op);
      providers.add(op);
    }
    for (const server of servers) {
      const ready = message<{ ready: true }>(server.child, 'ready', `server ${server.scenario} setup`);
      server.child.send({ config: serverConfig(server.scenario, redis!.url, ops) });
      await ready;
    }

    // Logins: one per server that needs its own session.
    const stored: Partial<Record<SessionScenario, Stored>> = {};
    const cookies = new Map<Server, string>();
    const loggingIn = pair.cookie === 'each' ? servers : pair.cookie === 'num' ? servers.slice(0, 1) : [];
    for (const server of loggingIn) {
      const start = `http://127.0.0.1:${server.port}/me`;
      const result = await within(login(start), STEP_TIMEOUT_MS, `login at ${server.scenario}`);
      if ((JSON.parse(result.body) as { sub?: unknown }).sub !== ACCOUNT) throw new Error(`${server.scenario}: the login answered ${result.body.slice(0, 200)}`);
      cookies.set(server, result.cookie);
      const cookieName = server.scenario === 'E' ? 'appSession' : 'koa-session-openid';
      stored[server.scenario] = await readStored(client, server.scenario, result.jar.get(new URL(start), cookieName));
    }
    if (pair.cookie === 'num') cookies.set(servers[1]!, cookies.get(servers[0]!)!);

    const requests = new Map<Server, Record<string, string>>();
    for (const server of servers) {
      const cookie = cookies.get(server);
      const headers: Record<string, string> = { accept: 'application/json', ...(cookie ? { cookie } : {}) };
      requests.set(server, headers);
      await probe(server, pair.path, headers);
    }

    const commands = async () => Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))?.[1]);
    const run = async (server: Server, seconds: number): Promise<Run> => {
      const before = await commands();
      const result = await load({
        port: server.port,
        path: pair.path,
        headers: requests.get(server)!,
        seconds,
        connections: CONNECTIONS,
        ...(TASKSET ? { core: SERVER_CORE } : {}),
        ...(server.child.pid !== undefined ? { serverPid: server.child.pid } : {}),
        redisPid,
      });
      // Less the INFO call itself.
      const sent = (await commands()) - before - 1;
      return result.requests ? { ...result, redisCommands: sent / result.requests } : result;
    };
    for (const server of servers) await run(server, WARMUP);
    const [numServer, denServer] = servers as [Server, Server];
    const perf = PERF_DIR
      ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(numServer.child.pid), '-o', join(PERF_DIR, `${pair.id.replace(/\W+/g, '-')}.perf.data`)], { stdio: 'ignore' })
      : undefined;
    const [num, den] = await alternating(SLICES, () => run(numServer, DURATION), () => run(denServer, DURATION));
    if (perf) {
      perf.kill('SIGINT');
      await once(perf, 'exit');
    }
    return { pair, num, den, stored };
  } finally {
    for (const server of servers) await stopServer(server);
    for (const op of ops) {
      await op.close().catch(() => {});
      providers.delete(op);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: the logged-in route's process after 10k and after 100k requests.

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

async function memoryGrowth(): Promise<{ after10k: number; after100k: number }> {
  const server = await startChild('L', ['--expose-gc']);
  // RSS after a full collection: what the process keeps, not where the last young-generation
  // collection happened to leave the heap.
  const collectedRss = async () => {
    const collected = message<{ collected: true }>(server.child, 'collected', 'server L gc');
    server.child.send('gc');
    await collected;
    return rssKb(server.child.pid!);
  };
  const op = await startBenchProvider([{ ...KOA_CLIENT, redirectUris: [`http://127.0.0.1:${server.port}/openid/${PROVIDER_NAMES[0]}/auth`] }]);
  providers.add(op);
  try {
    const ready = message<{ ready: true }>(server.child, 'ready', 'server L setup');
    server.child.send({ config: serverConfig('L', redis!.url, [op]) });
    await ready;
    const { cookie } = await within(login(`http://127.0.0.1:${server.port}/me`), STEP_TIMEOUT_MS, 'login at L');
    const requests = (amount: number) =>
      autocannon({ url: `http://127.0.0.1:${server.port}`, connections: CONNECTIONS, amount, requests: [{ method: 'GET', path: '/me', headers: { accept: 'application/json', cookie } }] });
    const first = await requests(10_000);
    const after10k = await collectedRss();
    const rest = await requests(90_000);
    const after100k = await collectedRss();
    const bad = first.non2xx + first.errors + rest.non2xx + rest.errors;
    if (bad) throw new Error(`RSS run: ${bad} failed requests`);
    return { after10k, after100k };
  } finally {
    await stopServer(server);
    await op.close().catch(() => {});
    providers.delete(op);
  }
}

const version = packageVersion;

function row(label: string, runs: Run[]): string {
  const med = (pick: (r: Run) => number | undefined) => {
    const xs = runs.map(pick).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const cpu = med((r) => r.cpuPerRequest);
  const red = med((r) => r.redisPerRequest);
  const cmds = med((r) => r.redisCommands);
  const foreign = runs.map((r) => r.foreign).filter((x): x is number => x !== undefined);
  return (
    `${label.padEnd(56)}${fmt(med((r) => r.rps)!).padStart(9)}` +
    `${(cpu === undefined ? '-' : cpu.toFixed(1)).padStart(9)}` +
    `${(red === undefined ? '-' : red.toFixed(1)).padStart(8)}` +
    `${(cmds === undefined ? '-' : cmds.toFixed(2)).padStart(9)}` +
    `${String(med((r) => r.p99)).padStart(7)}` +
    `${`${Math.round(med((r) => r.genCpu)!)}%`.padStart(8)}` +
    `${(foreign.length ? `${Math.round(Math.max(...foreign))}%` : '-').padStart(7)}`
  );
}

function ratioLine(r: PairResult): string {
  const paired = r.num.map((x, i) => x.rps / r.den[i]!.rps);
  const value = median(paired);
  const medNum = median(r.num.map((x) => x.rps));
  const medDen = median(r.den.map((x) => x.rps));
  return (
    `${r.pair.id.padEnd(13)}= ${value.toFixed(3)}  (target >= ${r.pair.target}: ${value >= r.pair.target ? 'PASS' : 'MISS'}; ` +
    `median of ${paired.length} slice pairs, range ${Math.min(...paired).toFixed(2)}-${Math.max(...paired).toFixed(2)}; ` +
    `ratio of the medians ${(medNum / medDen).toFixed(3)})  ${r.pair.title}`
  );
}

async function main(): Promise<number> {
  const started = performance.now();
  const cpu = cpus();
  const argv = process.argv.slice(2).join(' ');
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, Node ${process.version}`);
  console.log(
    `command: ${process.env.npm_lifecycle_event === 'bench:sessions' ? 'npm run bench:sessions' : 'tsx bench/sessions.ts'}${argv ? ` -- ${argv}` : ''}  (tsx bench/sessions.ts)`,
  );
  console.log(
    TASKSET
      ? `pinning: servers and redis-server on core ${SERVER_CORE} (taskset -c ${SERVER_CORE}), autocannon and the provider on core 0`
      : 'pinning: taskset (util-linux) not found: NOT pinned, numbers are noisier',
  );
  console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine makes the numbers noisy)`);

  redis = await startRedis(TASKSET ? SERVER_CORE : undefined);
  const client = new Redis(redis.url, { connectionName: 'bench-inspect', maxRetriesPerRequest: 1 });
  console.log(
    `stack: koa ${version('koa')}, ioredis ${version('ioredis')}; express ${version('express')}, ` +
      `express-openid-connect ${version('express-openid-connect')} (its defaults: rolling session, unsigned session-id cookie), ` +
      `connect-redis ${version('connect-redis')} (over ioredis); ` +
      `redis-server ${redis.version} on 127.0.0.1:${redis.port} (no persistence), oidc-provider ${version('oidc-provider')} in this process`,
  );
  console.log(
    `load: autocannon, ${CONNECTIONS} connections, pipelining 1, GET with Accept: application/json; per pair: both servers started ` +
      `(fresh processes), one login per logged-in server, ${WARMUP} s warm-up each, then ${SLICES} slices of ${DURATION} s each, in turns`,
  );

  // Measuring from here: this process (autocannon, the provider) on core 0 only.
  if (TASKSET) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

  const results: PairResult[] = [];
  let rss: { after10k: number; after100k: number } | undefined;
  try {
    const only = args.pairs?.split(',');
    for (const pair of PAIRS.filter((p) => !only || only.includes(p.id))) {
      const result = await comparePair(pair, client, redis.pid);
      results.push(result);
      const slices = result.num.map((n, i) => {
        const d = result.den[i]!;
        const bad = (r: Run) => (r.invalid ? ' (INVALID)' : '');
        return i % 2
          ? `${pair.den} ${fmt(d.rps)}${bad(d)} ${pair.num} ${fmt(n.rps)}${bad(n)}`
          : `${pair.num} ${fmt(n.rps)}${bad(n)} ${pair.den} ${fmt(d.rps)}${bad(d)}`;
      });
      console.log(`${pair.id} slices: ${slices.join(' | ')}`);
    }
    if (!only || only.includes('RSS')) rss = await memoryGrowth();
  } finally {
    client.disconnect();
  }

  const le = results.find((r) => r.pair.id === 'L/E');
  const sL = le?.stored.L;
  const sE = le?.stored.E;
  if (sL && sE) {
    console.log(
      `\nstored login (L's session): access token ${fmt(sL.accessToken)} chars (RS256 JWT, ${sL.accessTokenClaims ?? '?'} claims), ` +
        `refresh token ${fmt(sL.refreshToken)} chars (opaque), ID token ${fmt(sL.idToken)} chars (RS256, ${sL.idTokenClaims} claims); ` +
        `E's: ${fmt(sE.accessToken)} / ${fmt(sE.refreshToken)} / ${fmt(sE.idToken)} chars`,
    );
    console.log(
      `session in Redis: L ${fmt(sL.bytes)} B (a hash: ${sL.storedClaims} claims + scopes/times hot, tokens cold; a guard reads ${fmt(sL.hotBytes ?? 0)} B), MEMORY USAGE ${fmt(sL.memory)} B; ` +
        `E ${fmt(sE.bytes)} B (STRLEN: tokens + header + cookie), MEMORY USAGE ${fmt(sE.memory)} B`,
    );
  }

  console.log(`\n${'scenario (pair)'.padEnd(56)}${'req/s'.padStart(9)}${'CPU µs'.padStart(9)}${'redis'.padStart(8)}${'cmd/req'.padStart(9)}${'p99'.padStart(7)}${'gen CPU'.padStart(8)}${'noise'.padStart(7)}`);
  for (const r of results) {
    console.log(`${r.pair.id}: ${r.pair.title}`);
    console.log(row(`  ${r.pair.numLabel}`, r.num));
    console.log(row(`  ${r.pair.denLabel}`, r.den));
  }
  console.log(
    'req/s: median over the slices. CPU µs: the server process\'s CPU time per answered request; redis: redis-server\'s per request ' +
      '(medians over slices; 10 ms ticks); cmd/req: Redis commands per request. p99: ms. gen CPU: autocannon on core 0, % of one core (near 100%: the load generator, not the ' +
      `server, is the limit). noise: highest share of core ${SERVER_CORE} taken by other processes (not the server or Redis) during a run (above ~5%: rerun on a quieter machine).`,
  );

  console.log('\ntargets (issue 8):');
  for (const r of results) console.log(`  ${ratioLine(r)}`);
  if (rss) {
    const growth = rss.after100k / rss.after10k;
    console.log(
      `  RSS of L after 10k / 100k guarded requests: ${fmt(rss.after10k / 1024)} / ${fmt(rss.after100k / 1024)} MB = ${growth.toFixed(3)} ` +
        `(target within 10%: ${Math.abs(growth - 1) <= 0.1 ? 'PASS' : 'MISS'})`,
    );
  }

  const invalid = results.flatMap((r) => [
    ...r.num.filter((x) => x.invalid).map((x) => `${r.pair.id} ${r.pair.num}: ${x.invalid}`),
    ...r.den.filter((x) => x.invalid).map((x) => `${r.pair.id} ${r.pair.den}: ${x.invalid}`),
  ]);
  if (invalid.length) console.log(`\nINVALID runs: ${invalid.join('; ')}`);
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return invalid.length ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(err);
} finally {
  stopEverything();
  for (const op of providers) await op.close().catch(() => {});
  await redis?.stop();
  redis = undefined;
  await sleep(100);
  killEverything();
}
process.exit(exitCode);
