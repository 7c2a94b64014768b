#!/usr/bin/env node
// `npm test`: checks the prerequisites, starts a redis-server on a free port unless REDIS_URL is
// set, then runs node's test runner (with tsx) over test/**/*.test.ts and examples/**/*.test.ts.
// Extra arguments filter the files: `npm test -- test/session`; `--options` go to node
// (`npm test -- test/session --test-name-pattern=regenerate`).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function fail(message) {
  console.error(`\nnpm test: ${message}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js >= 20.19 is required (this is ${process.version}).`);

function onPath(cmd) {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, cmd)).find(executable);
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (!executable(chromium)) {
  fail(`Chromium is missing (looked for ${chromium}); the browser tests need it.\n  Install it:  apt-get install -y chromium\n  or point CHROMIUM_PATH at a Chromium binary.`);
}

// Glewlwyd (a C OpenID provider from Debian) is the independent provider of test/interop.
const missingInterop = ['glewlwyd', 'sqlite3'].filter((cmd) => !onPath(cmd) && !executable(`/usr/bin/${cmd}`));
if (missingInterop.length) {
  fail(`${missingInterop.join(' and ')} ${missingInterop.length > 1 ? 'are' : 'is'} missing; the interop tests run a real Glewlwyd OpenID provider.\n  Install: apt-get install -y glewlwyd sqlite3`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let redis;
let redisDir;
let child;
function stopRedis() {
  if (redis && redis.exitCode === null && redis.signalCode === null) redis.kill('SIGTERM');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
}
process.on('exit', stopRedis);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    if (child && child.exitCode === null) child.kill(signal);
    stopRedis();
    process.exit(code);
  });
}

if (!process.env.REDIS_URL) {
  const server = onPath('redis-server');
  if (!server) fail('redis-server is missing; the tests need a real Redis.\n  Install it:  apt-get install -y redis-server\n  or set REDIS_URL=redis://host:port to use a running one.');
  redisDir = mkdtempSync(join(tmpdir(), 'koa-session-openid-redis-'));
  let port;
  let log = '';
  let up = false;
  // A free port can be taken before redis-server binds it: then it exits at once, and we try again.
  for (let attempt = 0; attempt < 3 && !up; attempt++) {
    port = await freePort();
    log = '';
    redis = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    redis.stdout.on('data', (d) => (log += d));
    redis.stderr.on('data', (d) => (log += d));
    for (let i = 0; i < 100 && !up && redis.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      up = await answersPing(port);
    }
    if (!up && redis.exitCode === null) redis.kill('SIGKILL');
  }
  if (!up) fail(`redis-server did not start on 127.0.0.1:${port}. Its output:\n${log.trim()}`);
  for (const stream of [redis.stdout, redis.stderr]) stream.removeAllListeners('data').resume();
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  console.log(`redis-server started on 127.0.0.1:${port}`);
} else {
  console.log(`using REDIS_URL=${process.env.REDIS_URL.replace(/\/\/[^@]*@/, '//***@')}`);
}
process.env.CHROMIUM_PATH = chromium;

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(path).isDirectory() ? testFiles(path) : name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const args = process.argv.slice(2);
const nodeOptions = args.filter((a) => a.startsWith('--'));
const filters = args.filter((a) => !a.startsWith('--')).map((f) => relative(root, resolve(f)));
const files = [...testFiles(join(root, 'test')), ...testFiles(join(root, 'examples'))]
  .sort()
  .filter((file) => filters.length === 0 || filters.some((f) => file.startsWith(f)));
if (files.length === 0) fail(`no test file matches ${filters.join(' ')}`);

// The whole run (no filter) first compiles everything, examples included: they must type-check.
if (filters.length === 0) {
  console.log('typecheck: tsc -p tsconfig.json --noEmit');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) fail('the TypeScript check failed (see above).');
}

child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...nodeOptions, ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
child.on('exit', (code, signal) => {
  stopRedis();
  process.exit(code ?? (signal ? 1 : 0));
});
