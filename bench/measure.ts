/**
 * Load and CPU accounting shared by the benches (bench/bearer.ts, bench/sessions.ts): one autocannon
 * run against a server on 127.0.0.1, with the server's (and optionally Redis's) CPU time per request
 * read from /proc, and the small statistics helpers.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface Run {
  rps: number;
  /** Answered requests in the run. */
  requests: number;
  /** The server process's CPU time per answered request (µs), from /proc (Linux). */
  cpuPerRequest?: number;
  /** redis-server's CPU time per answered request (µs) during the run. */
  redisPerRequest?: number;
  /** Redis commands per answered request during the run (set by the caller). */
  redisCommands?: number;
  p99: number;
  /** The load generator's CPU, % of one core: near 100 means the generator, not the server, was the limit. */
  genCpu: number;
  /** CPU time other processes took on the server's core during the run, % of the run (noise). */
  foreign?: number;
  invalid?: string;
}

export interface LoadOptions {
  port: number;
  path: string;
  headers: Record<string, string>;
  seconds: number;
  connections: number;
  /** The core the server (and Redis) run on, for the noise figure; undefined when not pinned. */
  core?: number;
  serverPid?: number;
  redisPid?: number;
}

/** Busy clock ticks of one core (/proc/stat), Linux only. */
export function coreBusy(core: number): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
    const f = line!.trim().split(/\s+/).slice(1).map(Number);
    return f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!;
  } catch {
    return undefined;
  }
}

/** User + system clock ticks of one process (/proc/PID/stat), Linux only. */
export function processTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);

/** One autocannon run of `seconds` (bounded by autocannon's own duration). USER_HZ is 100: one tick is 10 ms. */
export async function load(o: LoadOptions): Promise<Run> {
  const cpu = process.cpuUsage();
  const core0 = o.core === undefined ? undefined : coreBusy(o.core);
  const server0 = processTicks(o.serverPid);
  const redis0 = processTicks(o.redisPid);
  const started = performance.now();
  const result = await autocannon({
    url: `http://127.0.0.1:${o.port}`,
    connections: o.connections,
    pipelining: 1,
    duration: o.seconds,
    requests: [{ method: 'GET', path: o.path, headers: o.headers }],
  });
  const used = process.cpuUsage(cpu);
  const elapsedMs = performance.now() - started;
  const genCpu = ((used.user + used.system) / 1000 / elapsedMs) * 100;
  const core = diff(core0, o.core === undefined ? undefined : coreBusy(o.core));
  const server = diff(server0, processTicks(o.serverPid));
  const redis = diff(redis0, processTicks(o.redisPid));
  const requests = result.requests.total;
  const foreign =
    core !== undefined && server !== undefined ? Math.max(0, ((core - server - (redis ?? 0)) * 10 * 100) / elapsedMs) : undefined;
  const bad = result.errors + result.timeouts + result.non2xx;
  return {
    rps: result.requests.average,
    requests,
    ...(server !== undefined && requests ? { cpuPerRequest: (server * 10_000) / requests } : {}),
    ...(redis !== undefined && requests ? { redisPerRequest: (redis * 10_000) / requests } : {}),
    p99: result.latency.p99,
    genCpu,
    ...(foreign !== undefined ? { foreign } : {}),
    ...(bad ? { invalid: `${bad} errors/timeouts/non-2xx of ${requests + result.errors + result.timeouts}` } : {}),
  };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
