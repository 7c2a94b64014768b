#!/usr/bin/env node
// `npm test`: checks the prerequisites, starts a redis-server on a free port unless REDIS_URL is
// set, then runs node's test runner (with tsx) over test/**/*.test.ts and examples/**/*.test.ts.
// Extra arguments filter the files: `npm test -- test/session`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function fail(message) {
  console.error(`\nnpm test: ${message}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js >= 20.19 is required (this is ${process.version}).`);

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || undefined;
}

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (!existsSync(chromium)) {
  fail(`Chromium is missing (looked for ${chromium}); the browser tests need it.\n  Install it:  apt-get install -y chromium\n  or point CHROMIUM_PATH at a Chromium binary.`);
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
function stopRedis() {
  if (redis && redis.exitCode === null) redis.kill('SIGTERM');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
}
process.on('exit', stopRedis);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopRedis();
    process.exit(130);
  });
}

if (!process.env.REDIS_URL) {
  const server = onPath('redis-server');
  if (!server) fail('redis-server is missing; the tests need a real Redis.\n  Install it:  apt-get install -y redis-server\n  or set REDIS_URL=redis://host:port to use a running one.');
  const port = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'koa-session-openid-redis-'));
  redis = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let up = false;
  for (let i = 0; i < 100 && !up && redis.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
    up = await answersPing(port);
  }
  if (!up) fail(`redis-server did not start on port ${port}.`);
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

const filters = process.argv.slice(2);
const files = [...testFiles(join(root, 'test')), ...testFiles(join(root, 'examples'))]
  .sort()
  .filter((file) => filters.length === 0 || filters.some((f) => file.startsWith(f.replace(/^\.\//, ''))));
if (files.length === 0) fail(`no test file matches ${filters.join(' ')}`);

// The whole run (no filter) first compiles everything, examples included: they must type-check.
if (filters.length === 0) {
  console.log('typecheck: tsc -p tsconfig.json --noEmit');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) fail('the TypeScript check failed (see above).');
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
child.on('exit', (code, signal) => {
  stopRedis();
  process.exit(code ?? (signal ? 1 : 0));
});
