import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** The Redis the test run started (or the one REDIS_URL names). */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run the tests with `npm test`, which starts a redis-server');
  return url;
}

export function newRedis(): Redis {
  return new Redis(redisUrl());
}

/** A key prefix no other test uses. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${randomBytes(6).toString('hex')}:`;
}

/**
 * A redis-server of a test's own (the shared one of the test run must stay up): on a free port,
 * killed, stopped, paused (SIGSTOP: the socket stays open, nothing answers) and restarted on the
 * same port by the test. No persistence by default: a restart loses the data. With
 * `{ persistent: true }` it keeps an append-only file (fsynced at every write) in a temporary
 * directory of its own, so a restart, even after SIGKILL, comes back with every write it answered.
 */
export interface OwnRedis {
  url: string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (Redis's own shutdown: with persistence it flushes the append-only file), and wait for the exit. */
  stop(): Promise<void>;
  /** A new redis-server on the same port (empty, or with the data of the last one when persistent); resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a stalled server. */
  pause(): void;
  resume(): void;
  /** Kills it, and removes its directory when persistent. */
  close(): Promise<void>;
}

export interface OwnRedisOptions {
  /** Keep the data across restarts (append-only file, `appendfsync always`, in a temporary directory). */
  persistent?: boolean;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function answersPing(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(300);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const dir = options.persistent ? mkdtempSync(join(tmpdir(), 'koa-session-openid-own-redis-')) : undefined;
  let child: import('node:child_process').ChildProcess | undefined;
  // Once per server, not per restart (a listener per restart would pile up): the current child.
  process.once('exit', () => {
    child?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
    args.push(...(dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    // setpriv execs redis-server with a parent-death signal: it never outlives a killed test process.
    child = existsSync('/usr/bin/setpriv')
      ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', 'redis-server', ...args], { stdio: 'ignore' })
      : spawn('redis-server', args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await answersPing(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const signal = async (name: 'SIGKILL' | 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGCONT');
    c.kill(name);
    await exited;
  };
  const kill = () => signal('SIGKILL');
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    stop: () => signal('SIGTERM'),
    restart: start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    close: async () => {
      await kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
