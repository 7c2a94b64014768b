/**
 * A redis-server of the bench's own: on a free port of 127.0.0.1, no persistence (no RDB, no AOF,
 * its working directory a fresh temporary folder), optionally pinned to one core. Stopped by
 * `stop()`; `kill()` is the synchronous last resort for exit handlers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface BenchRedis {
  url: string;
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
  /** SIGKILL, synchronous: for exit handlers. */
  kill(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function ping(url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** Starts redis-server (3 tries at a free port, each waiting at most 5 s for it to answer). */
export async function startRedis(pinCore?: number): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
    const cmd = pinCore === undefined ? ['redis-server', ...args] : ['taskset', '-c', String(pinCore), 'redis-server', ...args];
    const child: ChildProcess = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    const url = `redis://127.0.0.1:${port}`;
    let version: string | undefined;
    for (let i = 0; i < 50 && !exited && version === undefined; i++) {
      await sleep(100);
      version = await ping(url);
    }
    if (version === undefined || child.pid === undefined) {
      child.kill('SIGKILL');
      continue;
    }
    const pid = child.pid;
    return {
      url,
      port,
      pid,
      version,
      kill() {
        if (!exited) child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      },
      async stop() {
        if (!exited) {
          const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          await Promise.race([gone, sleep(3000)]);
          if (!exited) child.kill('SIGKILL');
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('redis-server did not start (is it on the PATH?)');
}
