/**
 * `npm run bench`: requests/s of the bearer middleware against a hand-written jose route and a bare
 * Koa route, measured side by side in one run, and the issue's two ratios:
 *
 *   B / A >= 0.9   provider.bearer() with a unique token per request vs. jose.jwtVerify by hand
 *   D / C >= 0.8   provider.bearer() with one repeated token (verified-token cache) vs. bare Koa
 *
 * Each server is its own child process pinned to core 1 (`taskset`); autocannon runs here, pinned
 * to core 0. A ratio compares two servers started side by side and loaded in turns: short slices,
 * numerator and denominator alternating (N D D N N D ...), so that the drifts of this shared VM's
 * speed (20-30 % within a minute, seen here) hit both sides alike. The ratio is the median of the
 * per-slice-pair ratios; the median req/s per scenario and the server's CPU time per request are
 * printed too. Not part of `npm test`.
 *
 *   --slices 8 --cached-slices 16 --duration 2 --warmup 2
 *       slices per scenario for (B, A), for (D, C); seconds. (D, C) gets more: no token pool to
 *       sign, and its runs are the noisier (the load generator is near its limit with C).
 *   --cpu-prof B,D                        also write V8 CPU profiles of these scenarios' servers
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Scenario } from './servers.js';
import { coreBusy, fmt, median, processTicks, type Run } from './measure.js';
import { generateKeys, signTokens, type BenchKeys } from './tokens.js';

const { values: args } = parseArgs({
  options: {
    slices: { type: 'string', default: '8' },
    'cached-slices': { type: 'string', default: '16' },
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
  },
});
const SLICES = Number(args.slices);
const CACHED_SLICES = Number(args['cached-slices']);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const CONNECTIONS = 100;
/** Pool size over A's calibrated need (a warmer A runs faster than in the short calibration). */
const MARGIN = 1.4;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_FILE = fileURLToPath(new URL('./servers.ts', import.meta.url));

const LABEL: Record<Scenario, string> = {
  A: 'A  hand-written jose.jwtVerify, unique tokens',
  B: 'B  provider.bearer(), unique tokens (cache miss)',
  C: 'C  bare Koa hello',
  D: 'D  provider.bearer(), one token (cache hit)',
};

const TASKSET = spawnSync('taskset', ['--version']).status === 0;

interface Server {
  port: number;
  child: ChildProcess;
}

async function startServer(scenario: Scenario, keys: BenchKeys, profileDir?: string): Promise<Server> {
  const node = [process.execPath, '--import', 'tsx', ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), SERVER_FILE, scenario];
  const cmd = TASKSET ? ['taskset', '-c', '1', ...node] : node;
  const child = spawn(cmd[0]!, cmd.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_JWK: JSON.stringify(keys.publicJwk) },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (msg: { port: number }) => resolve(msg.port));
    child.once('exit', (code) => reject(new Error(`server ${scenario} exited (${code}) before listening`)));
  });
  return { port, child };
}

async function stopServer(server: Server): Promise<void> {
  const exited = once(server.child, 'exit');
  server.child.send('stop');
  await exited;
}

/** One request outside the measurement: the server must answer 200 with the token's `sub`. */
async function probe(scenario: Scenario, port: number, token: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  const ok = res.status === 200 && (scenario === 'C' ? body === 'Hello World' : body === 'Hello user-0');
  if (!ok) throw new Error(`server ${scenario} answered ${res.status} ${body}`);
}

/** Hands out each pool token once; `exhausted` tells when the pool ran out (the run is then invalid). */
class TokenFeed {
  next = 0;
  constructor(readonly pool: string[]) {}
  take(): string {
    if (this.next >= this.pool.length) this.exhausted = true;
    return this.pool[this.next++ % this.pool.length]!;
  }
  exhausted = false;
}

async function load(port: number, seconds: number, token: string | TokenFeed, serverPid?: number): Promise<Run> {
  const request: autocannon.Request =
    typeof token === 'string'
      ? { method: 'GET', path: '/', headers: { authorization: `Bearer ${token}` } }
      : {
          method: 'GET',
          path: '/',
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${token.take()}` } }),
        };
  const cpu = process.cpuUsage();
  const core0 = TASKSET ? coreBusy(1) : undefined;
  const server0 = serverPid ? processTicks(serverPid) : undefined;
  const started = performance.now();
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, pipelining: 1, duration: seconds, requests: [request] });
  const used = process.cpuUsage(cpu);
  const elapsedMs = performance.now() - started;
  const genCpu = ((used.user + used.system) / 1000 / elapsedMs) * 100;
  const core1 = TASKSET ? coreBusy(1) : undefined;
  const server1 = serverPid ? processTicks(serverPid) : undefined;
  // USER_HZ is 100 on Linux: one tick is 10 ms.
  const foreign =
    core0 !== undefined && core1 !== undefined && server0 !== undefined && server1 !== undefined
      ? Math.max(0, ((core1 - core0 - (server1 - server0)) * 10 * 100) / elapsedMs)
      : undefined;
  const requests = result.requests.total;
  const cpuPerRequest = server0 !== undefined && server1 !== undefined && requests ? ((server1 - server0) * 10_000) / requests : undefined;
  const bad = result.errors + result.timeouts + result.non2xx;
  const invalid = bad ? `${bad} errors/timeouts/non-2xx` : typeof token !== 'string' && token.exhausted ? 'token pool exhausted' : undefined;
  return {
    rps: result.requests.average,
    requests,
    ...(cpuPerRequest !== undefined ? { cpuPerRequest } : {}),
    p99: result.latency.p99,
    genCpu,
    ...(foreign !== undefined ? { foreign } : {}),
    ...(invalid ? { invalid } : {}),
  };
}

/**
 * Starts the servers of `num` and `den` side by side, warms both up, then loads them in turns,
 * `slices` slices each (N D D N N D ...). Each server is a fresh process: B's cache starts empty,
 * and A and B see each pool token once.
 */
async function comparePair(
  pair: readonly [Scenario, Scenario],
  slices: number,
  keys: BenchKeys,
  pool: string[],
  probeToken: string,
  profileDir?: string,
): Promise<Record<Scenario, Run[]>> {
  const [num, den] = pair;
  const servers = new Map<Scenario, { server: Server; token: string | TokenFeed }>();
  try {
    for (const scenario of pair) {
      const server = await startServer(scenario, keys, profiled(scenario) ? profileDir : undefined);
      servers.set(scenario, { server, token: scenario === 'A' || scenario === 'B' ? new TokenFeed(pool) : probeToken });
      await probe(scenario, server.port, probeToken);
    }
    for (const scenario of pair) {
      const { server, token } = servers.get(scenario)!;
      await load(server.port, WARMUP, token);
    }
    const runs = { [num]: [] as Run[], [den]: [] as Run[] } as Record<Scenario, Run[]>;
    for (let i = 0; i < slices; i++) {
      for (const scenario of i % 2 ? [den, num] : [num, den]) {
        const { server, token } = servers.get(scenario)!;
        runs[scenario].push(await load(server.port, DURATION, token, server.child.pid));
      }
    }
    return runs;
  } finally {
    for (const { server } of servers.values()) await stopServer(server);
  }
}

const profiledScenarios = (args['cpu-prof'] ?? '').split(',');
const profiled = (scenario: Scenario) => profiledScenarios.includes(scenario);

async function main(): Promise<void> {
  const started = performance.now();
  const cpu = cpus();
  const argv = process.argv.slice(2).join(' ');
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, Node ${process.version}`);
  console.log(`command: ${process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'tsx bench/bearer.ts'}${argv ? ` -- ${argv}` : ''}  (tsx bench/bearer.ts)`);
  console.log(
    TASKSET
      ? 'pinning: servers on core 1 (taskset -c 1), autocannon on core 0'
      : 'pinning: taskset (util-linux) not found: NOT pinned, numbers are noisier',
  );
  console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine makes the numbers noisy)`);
  console.log(
    `load: autocannon, ${CONNECTIONS} connections, pipelining 1; per pair (B, A) and (D, C): both servers started (fresh processes), ` +
      `${WARMUP} s warm-up each, then ${SLICES} (B, A) or ${CACHED_SLICES} (D, C) slices of ${DURATION} s each, in turns`,
  );

  const keys = generateKeys();
  // Token 0 is the probe and the one repeated token of C and D; the pool starts at 1.
  const [probeToken] = await signTokens(keys, 0, 1);
  let signing = performance.now();
  const pool = await signTokens(keys, 1, 20_000);
  signing = performance.now() - signing;

  // Calibrate: the faster of A and B tells how many unique tokens one run consumes.
  let rateMax = 0;
  for (const scenario of ['A', 'B'] as const) {
    const calib = await startServer(scenario, keys);
    await probe(scenario, calib.port, probeToken!);
    const calibFeed = new TokenFeed(pool);
    await load(calib.port, 1, calibFeed);
    rateMax = Math.max(rateMax, (await load(calib.port, 2, calibFeed)).rps);
    await stopServer(calib);
  }
  const needed = Math.ceil(rateMax * (WARMUP + SLICES * DURATION) * MARGIN) + 2 * CONNECTIONS;
  if (needed > pool.length) {
    const more = performance.now();
    for (const token of await signTokens(keys, 1 + pool.length, needed - pool.length)) pool.push(token);
    signing += performance.now() - more;
  }
  console.log(
    `tokens: RS256 (RSA 2048, kid, iss/aud/sub/exp/iat/jti/scope, ${probeToken!.length} chars), ${fmt(pool.length)} distinct, ` +
      `signed in ${(signing / 1000).toFixed(1)} s on ${cpu.length} worker threads before measuring ` +
      `(the faster of A and B calibrated at ${fmt(rateMax)} req/s × ${WARMUP + SLICES * DURATION} s × ${MARGIN}). RS256 kept because it is what providers sign with and ` +
      'its verify cost is the one to measure (Ed25519 would sign faster but verifies several times slower than RS256 on Node).',
  );
  console.log('C and D send the same Authorization header (token 0) on every request; A and B never repeat a token within a server process.');

  // Measuring from here: this process (autocannon) on core 0 only.
  if (TASKSET) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const profileDir = args['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'bench-cpu-prof-')) : undefined;

  const order: Scenario[] = ['A', 'B', 'C', 'D'];
  const runs: Record<Scenario, Run[]> = { A: [], B: [], C: [], D: [] };
  for (const [pair, slices] of [
    [['B', 'A'], SLICES],
    [['D', 'C'], CACHED_SLICES],
  ] as const) {
    const [num, den] = pair;
    Object.assign(runs, await comparePair(pair, slices, keys, pool, probeToken!, profileDir));
    const line = runs[num].map((r, i) => {
      const [first, second] = i % 2 ? [den, num] : [num, den];
      const x = first === num ? r : runs[den][i]!;
      const y = first === num ? runs[den][i]! : r;
      return `${first} ${fmt(x.rps)}${x.invalid ? ' (INVALID)' : ''} ${second} ${fmt(y.rps)}${y.invalid ? ' (INVALID)' : ''}`;
    });
    console.log(`${num}/${den} slices: ${line.join(' | ')}`);
  }

  const med = (s: Scenario) => median(runs[s].map((r) => r.rps));
  console.log(`\n${'scenario'.padEnd(52)}${'req/s (median)'.padStart(15)}${'CPU µs/req'.padStart(11)}${'p99 ms'.padStart(8)}${'gen CPU'.padStart(9)}${'noise'.padStart(7)}`);
  for (const s of order) {
    const r = runs[s];
    console.log(
      `${LABEL[s].padEnd(52)}${fmt(med(s)).padStart(15)}` +
        `${(r[0]?.cpuPerRequest === undefined ? '-' : median(r.map((x) => x.cpuPerRequest!)).toFixed(1)).padStart(11)}` +
        `${String(median(r.map((x) => x.p99))).padStart(8)}` +
        `${`${Math.round(median(r.map((x) => x.genCpu)))}%`.padStart(9)}` +
        `${(r[0]?.foreign === undefined ? '-' : `${Math.round(Math.max(...r.map((x) => x.foreign!)))}%`).padStart(7)}`,
    );
  }
  console.log(
    'CPU µs/req: the server process\'s CPU time per answered request (median over slices; 10 ms ticks). ' +
      'gen CPU: autocannon on core 0, % of one core (near 100%: the load generator, not the server, is the limit). ' +
      'noise: highest share of core 1 taken by other processes during a run (above ~5%: rerun on a quieter machine).',
  );
  const ratio = (num: Scenario, den: Scenario, target: number) => {
    // Slice i of each side ran back to back with the other's slice i.
    const paired = runs[num].map((r, i) => r.rps / runs[den][i]!.rps);
    const value = median(paired);
    const [low, high] = [Math.min(...paired), Math.max(...paired)];
    return (
      `${num}/${den} = ${value.toFixed(3)}  (target >= ${target}: ${value >= target ? 'PASS' : 'FAIL'}; median of ${paired.length} slice pairs, ` +
      `range ${low.toFixed(2)}-${high.toFixed(2)}; ratio of the medians ${(med(num) / med(den)).toFixed(3)})`
    );
  };
  console.log(`\nunique token vs hand-written jose:  ${ratio('B', 'A', 0.9)}`);
  console.log(`cached token vs bare Koa:           ${ratio('D', 'C', 0.8)}`);
  if (profileDir) console.log(`\nCPU profiles of ${args['cpu-prof']} (one .cpuprofile per server process, open in Chrome DevTools): ${profileDir}`);
  const invalid = order.flatMap((s) => runs[s].filter((r) => r.invalid).map((r) => `${s}: ${r.invalid}`));
  if (invalid.length) console.log(`\nINVALID runs: ${invalid.join('; ')}`);
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = invalid.length ? 1 : 0;
}

await main();
