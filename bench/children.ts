/**
 * The session benches' server processes (bench/session-servers.ts, one scenario each) and their
 * cleanup: everything started here is killed on exit, error or Ctrl+C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionScenario } from './session-servers.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_FILE = fileURLToPath(new URL('./session-servers.ts', import.meta.url));
export const TASKSET = spawnSync('taskset', ['--version']).status === 0;
/** The core the servers (and redis-server) run on; the load generator and the provider use core 0. */
export const SERVER_CORE = 1;
/** Child start, app build, a login, stop: each bounded. */
export const STEP_TIMEOUT_MS = 30_000;

const live = new Set<ChildProcess>();
const cleanups = new Set<() => void>();

/** Runs `fn` (synchronous: a SIGKILL) when this process ends. */
export function onExit(fn: () => void): void {
  cleanups.add(fn);
}

/** Kills every server process and runs the exit cleanups (synchronous). */
export function killEverything(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
  for (const fn of cleanups) fn();
  cleanups.clear();
}
process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the servers and redis-server`);
    killEverything();
    process.exit(130);
  });
}

/** Asks every server process still running to stop (SIGTERM). */
export function stopEverything(): void {
  for (const child of [...live]) child.kill('SIGTERM');
}

/** An installed package's version, or `'?'`. */
export function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface Server {
  scenario: SessionScenario;
  port: number;
  child: ChildProcess;
}

/** The next IPC message that has `key`, or the child's exit (an error). */
export function message<T>(child: ChildProcess, key: string, what: string): Promise<T> {
  return within(
    new Promise<T>((resolve, reject) => {
      const onMessage = (msg: Record<string, unknown>) => {
        if (typeof msg === 'object' && msg !== null && 'error' in msg) finish(() => reject(new Error(String(msg.error))));
        else if (typeof msg === 'object' && msg !== null && key in msg) finish(() => resolve(msg as T));
      };
      const onChildExit = (code: number | null) => finish(() => reject(new Error(`${what}: the server exited (${code})`)));
      const finish = (then: () => void) => {
        child.off('message', onMessage);
        child.off('exit', onChildExit);
        then();
      };
      child.on('message', onMessage);
      child.once('exit', onChildExit);
    }),
    STEP_TIMEOUT_MS,
    what,
  );
}

/** A server process of `scenario`, pinned to {@link SERVER_CORE}; `nodeFlags` go to node (e.g. `--perf-basic-prof`). */
export async function startServer(scenario: SessionScenario, nodeFlags: string[] = []): Promise<Server> {
  const node = [process.execPath, ...nodeFlags, '--import', 'tsx', SERVER_FILE, scenario];
  const cmd = TASKSET ? ['taskset', '-c', String(SERVER_CORE), ...node] : node;
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const { port } = await message<{ port: number }>(child, 'port', `server ${scenario} start`);
  return { scenario, port, child };
}

export async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = once(server.child, 'exit');
  if (server.child.connected) server.child.send('stop');
  else server.child.kill('SIGTERM');
  await within(exited, 5000, `server ${server.scenario} stop`).catch(() => server.child.kill('SIGKILL'));
}

/**
 * `rounds` measurements of two servers in turns, the order swapped every round (A B, B A, ...),
 * so that the machine's drift does not favour either.
 */
export async function alternating<T>(rounds: number, a: () => Promise<T>, b: () => Promise<T>): Promise<[T[], T[]]> {
  const as: T[] = [];
  const bs: T[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2) {
      bs.push(await b());
      as.push(await a());
    } else {
      as.push(await a());
      bs.push(await b());
    }
  }
  return [as, bs];
}
