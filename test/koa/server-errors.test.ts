/**
 * Server-side failures are visible: each 5xx answer is also a Koa `error` event carrying the
 * failing endpoint's origin and the cause code (never a token or secret), and
 * `NODE_DEBUG=koa-session-openid` names the redirect_uri a provider sends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { Redis } from 'ioredis';
import { OpenID, OpenIDError, redisSession } from '../../src/index.js';
import { startHostileApp } from '../support/hostile-app.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { serve } from '../session/http.js';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function collectErrors(app: Koa): OpenIDError[] {
  const seen: OpenIDError[] = [];
  app.on('error', (err: unknown) => {
    if (err instanceof OpenIDError) seen.push(err);
  });
  return seen;
}

test('a discovery failure answers 503 and is a Koa error event with the origin and the cause code', async () => {
  const port = await closedPort();
  const app = new Koa();
  app.keys = ['k'];
  const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('errors') });
  app.use(sessions);
  const secret = 'client-secret-never-shown-0123456789';
  new OpenID(app, { name: 'down', clientId: 'c', clientSecret: secret, configuration: `http://127.0.0.1:${port}/.well-known/openid-configuration`, allowInsecureRequests: true, timeout: 1 });
  const errors = collectErrors(app);
  const served = await serve(app);
  try {
    const res = await fetch(served.url('/openid/down/login'), { headers: { accept: 'application/json' } });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'discovery_failed');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'discovery_failed');
    assert.equal(errors[0]!.origin, `http://127.0.0.1:${port}`);
    assert.equal(errors[0]!.causeCode, 'ECONNREFUSED');
    assert.doesNotMatch(JSON.stringify({ ...errors[0], message: errors[0]!.message, stack: errors[0]!.stack }), new RegExp(secret));
  } finally {
    await served.close();
    await sessions.close();
  }
});

test('a provider failure behind bearer() (keys unreachable) is reported too; 4xx answers are not', async () => {
  const fx = await startHostileApp({ routes: false, timeout: 1 }, (app, openid) => {
    const router = new Router();
    router.get('/api', openid.bearer(), (ctx) => (ctx.body = 'ok'));
    app.use(router.routes());
  });
  const errors = collectErrors(fx.app);
  try {
    assert.equal((await fetch(`${fx.base}/api`, { headers: { authorization: 'Bearer not-a-jwt-at-all' } })).status, 401);
    assert.equal(errors.length, 0, 'a bad token is the caller\'s problem, no error event');
    fx.op.down = true;
    const jwt = await fx.op.sign({ iss: fx.op.issuer, aud: 'hostile-client', sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 });
    const res = await fetch(`${fx.base}/api`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.ok(res.status >= 502 && res.status <= 504, String(res.status));
    assert.equal(errors.length, 1);
    assert.ok(errors[0]!.origin?.startsWith('http://127.0.0.1:'));
  } finally {
    fx.op.down = false;
    await fx.close();
  }
});

test('a session store that fails answers 503 session_unavailable and is reported; requests without a session are unaffected', async () => {
  const port = await closedPort();
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  const app = new Koa();
  app.keys = ['k'];
  app.use(redisSession(app, { redis: client }));
  app.use((ctx) => {
    if (ctx.path === '/set') ctx.session.x = 1;
    ctx.body = 'ok';
  });
  const errors = collectErrors(app);
  const served = await serve(app);
  try {
    assert.equal((await fetch(served.url('/'))).status, 200, 'an anonymous page needs no session');
    const res = await fetch(served.url('/set'), { headers: { accept: 'application/json' } });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'session_unavailable');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'session_unavailable');
  } finally {
    await served.close();
    client.disconnect();
  }
});

test('NODE_DEBUG=koa-session-openid names the redirect_uri a provider sends, once', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./debug-child.ts', import.meta.url).pathname], {
    env: { ...process.env, NODE_DEBUG: 'koa-session-openid' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  const base = stdout.trim();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const lines = stderr.split('\n').filter((l) => l.includes('redirect_uri'));
  assert.equal(lines.length, 1, stderr);
  assert.ok(lines[0]!.includes(`provider "hostile" sends redirect_uri ${base}/openid/hostile/auth`), lines[0]);
});
