/**
 * Real Redis topologies for test/topologies, on free loopback ports in temporary directories:
 * a 3-master Redis Cluster (`redis-server --cluster-enabled yes` ×3, joined by
 * `redis-cli --cluster create`) and a Sentinel set (a master, a replica, three sentinels). Every
 * server is a child process of the test (under `setpriv --pdeathsig KILL` when available, so it
 * never outlives a killed test run), killed by its pid in `close()`, which also removes the
 * directories. No persistence (`--save ''`, `--appendonly no`).
 *
 * `topologyClient(spec)` makes the ioredis client an app instance passes as
 * `redisSession(app, { redis })`; the spec is plain JSON, so a spawned instance
 * (test/support/instance.ts) makes its own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';

export interface HostPort {
  host: string;
  port: number;
}

/** What an app instance connects to: a Redis Cluster (seed nodes) or a Sentinel-managed master. */
export type TopologySpec =
  | { cluster: HostPort[] }
  | { sentinels: HostPort[]; name: string };

/**
 * The ioredis client for `spec`, as README recommends it:
 * - Cluster: `new Cluster(seeds, { enableAutoPipelining: true })`;
 * - Sentinel: the master found through the sentinels, with quick reconnection so that a failover is
 *   followed as soon as the sentinels announce the new master: `retryStrategy` (how soon ioredis
 *   asks the sentinels again after the master's connection dropped; its default backs off up to
 *   2 s) and `sentinelRetryStrategy` (when no sentinel answers) both 100 ms.
 * Connection errors are expected during a failover: they are swallowed here (the library answers
 * the requests they cost with 503).
 */
export function topologyClient(spec: TopologySpec): Redis | Cluster {
  const client = 'cluster' in spec
    ? new Cluster(spec.cluster, { enableAutoPipelining: true })
    : new Redis({
      sentinels: spec.sentinels,
      name: spec.name,
      enableAutoPipelining: true,
      retryStrategy: () => 100,
      sentinelRetryStrategy: () => 100,
    });
  client.on('error', () => {});
  return client;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const onPath = (cmd: string): string | undefined =>
  (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, cmd)).find(executable)
  ?? (executable(`/usr/bin/${cmd}`) ? `/usr/bin/${cmd}` : undefined);

/** The path of `redis-server` and `redis-cli`, or an error that says what to install. */
export function redisTools(): { server: string; cli: string } {
  const server = onPath('redis-server');
  const cli = onPath('redis-cli');
  if (!server) throw new Error('redis-server is missing; the topology tests run a Redis Cluster and a Sentinel set of their own.\n  Install it:  apt-get install -y redis-server');
  if (!cli) throw new Error('redis-cli is missing; the Redis Cluster test creates its cluster with `redis-cli --cluster create`.\n  Install it:  apt-get install -y redis-tools   (a dependency of redis-server)');
  return { server, cli };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A one-shot connection to a server or a sentinel, for the test's own commands. */
export async function command(port: number, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableReadyCheck: false, enableOfflineQueue: false, connectTimeout: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}

/** Polls `check` (errors count as "not yet") every 50 ms until it is true; throws `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(50);
  }
}

/** One redis-server (or sentinel) child process. */
export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Its output so far (stdout and stderr). */
  log(): string;
  /** SIGKILL by pid, and wait for the exit. */
  kill(): Promise<void>;
  readonly exited: boolean;
}

const started = new Set<ChildProcess>();
const tempDirs = new Set<string>();
// A test process that dies without its after() hooks still takes its servers and directories along.
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts `redis-server` with `args(port)` in `dir` and waits until it answers PING. A port taken
 * between the probe and the bind makes the server exit at once: then it tries other ports.
 */
async function startServer(dir: string, args: (ports: number[]) => string[], portCount = 1): Promise<ServerProcess> {
  const { server } = redisTools();
  let lastLog = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const ports = await Promise.all(Array.from({ length: portCount }, freePort));
    const port = ports[0]!;
    const argv = args(ports);
    const child = existsSync('/usr/bin/setpriv')
      ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', server, ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(server, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const proc: ServerProcess = {
      port,
      pid: child.pid!,
      dir,
      log: () => log,
      get exited() {
        return child.exitCode !== null || child.signalCode !== null;
      },
      async kill() {
        if (proc.exited) return;
        process.kill(child.pid!, 'SIGKILL');
        await exit;
        started.delete(child);
      },
    };
    let up = false;
    for (let i = 0; i < 200 && !up && !proc.exited; i++) {
      up = await command(port, 'PING').then((r) => r === 'PONG', () => false);
      if (!up) await sleep(25);
    }
    if (up) return proc;
    lastLog = log;
    await proc.kill();
  }
  throw new Error(`redis-server did not start in ${dir}. Its output:\n${lastLog.trim()}`);
}

const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A running topology: its processes, and `close()` that kills them (by pid) and removes the temp dirs. */
interface Running {
  readonly dirs: string[];
  close(): Promise<void>;
}

function tempDir(dirs: string[], name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `koa-session-openid-${name}-`));
  dirs.push(dir);
  tempDirs.add(dir);
  return dir;
}

function closer(dirs: string[], procs: ServerProcess[]) {
  return async () => {
    await Promise.all(procs.map((p) => p.kill()));
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  };
}

export interface RedisClusterTopology extends Running {
  readonly nodes: ServerProcess[];
  /** The seed nodes for `new Cluster(...)` / `topologyClient`. */
  readonly seeds: HostPort[];
}

/**
 * A Redis Cluster of three masters (no replicas), each on a free port with its cluster bus on
 * another free port (`--cluster-port`: the default port + 10000 can be out of range for an
 * ephemeral port), created with `redis-cli --cluster create`; resolves once every node's
 * `CLUSTER INFO` says `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisClusterTopology> {
  const { cli } = redisTools();
  const dirs: string[] = [];
  const nodes: ServerProcess[] = [];
  const close = closer(dirs, nodes);
  try {
    for (let i = 0; i < 3; i++) {
      const dir = tempDir(dirs, `cluster-${i}`);
      nodes.push(await startServer(dir, ([port, bus]) => [
        '--port', String(port), '--cluster-port', String(bus),
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '5000',
        '--dir', dir, ...base,
      ], 2));
    }
    const created = spawnSync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed (${created.status ?? created.signal}):\n${created.stdout}\n${created.stderr}`);
    for (const node of nodes) {
      await until(`cluster_state:ok on 127.0.0.1:${node.port}`, async () => /cluster_state:ok/.test(String(await command(node.port, 'CLUSTER', 'INFO'))));
    }
    return { nodes, seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), dirs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface SentinelTopology extends Running {
  readonly name: string;
  readonly master: ServerProcess;
  readonly replica: ServerProcess;
  readonly sentinels: ServerProcess[];
  /** The sentinels' addresses for `new Redis({ sentinels, name })` / `topologyClient`. */
  readonly sentinelAddresses: HostPort[];
  /** The master's address as the sentinels report it now. */
  currentMaster(): Promise<HostPort>;
}

/**
 * A master, a replica of it, and three sentinels monitoring it as `mymaster` with quorum 2,
 * `down-after-milliseconds` 1000 and `failover-timeout` 3000. Resolves once the replica's link is
 * up and every sentinel sees the replica and the two other sentinels (`SENTINEL CKQUORUM` OK with
 * 3 usable sentinels): a failover can then happen.
 */
export async function startSentinelSet(): Promise<SentinelTopology> {
  redisTools();
  const name = 'mymaster';
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const close = closer(dirs, procs);
  try {
    const masterDir = tempDir(dirs, 'sentinel-master');
    const master = await startServer(masterDir, ([port]) => ['--port', String(port), '--dir', masterDir, ...base]);
    procs.push(master);
    const replicaDir = tempDir(dirs, 'sentinel-replica');
    const replica = await startServer(replicaDir, ([port]) => ['--port', String(port), '--dir', replicaDir, '--replicaof', '127.0.0.1', String(master.port), ...base]);
    procs.push(replica);
    await until('the replica\'s link to the master', async () => /master_link_status:up/.test(String(await command(replica.port, 'INFO', 'replication'))));

    const sentinels: ServerProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = tempDir(dirs, `sentinel-${i}`);
      const conf = join(dir, 'sentinel.conf');
      sentinels.push(await startServer(dir, ([port]) => {
        // Sentinel rewrites its configuration file (what it learns, its id): one per sentinel.
        writeFileSync(conf, [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 3000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'));
        return [conf, '--sentinel'];
      }));
      procs.push(sentinels.at(-1)!);
    }
    for (const s of sentinels) {
      await until(`sentinel 127.0.0.1:${s.port} to see the replica and the other sentinels`, async () => {
        const quorum = String(await command(s.port, 'SENTINEL', 'CKQUORUM', name));
        const replicas = (await command(s.port, 'SENTINEL', 'REPLICAS', name)) as string[][];
        const flags = replicas.map((r) => r[r.indexOf('flags') + 1]);
        return /OK 3 usable/.test(quorum) && flags.length === 1 && flags[0] === 'slave';
      }, 30_000);
    }
    return {
      name,
      master,
      replica,
      sentinels,
      sentinelAddresses: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      async currentMaster() {
        const [host, port] = (await command(sentinels[0]!.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return { host, port: Number(port) };
      },
      dirs,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
