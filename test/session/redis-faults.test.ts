/**
 * Redis going away, with a redis-server of the test's own: killed, stalled (SIGSTOP) and brought
 * back while a logged-in user makes requests. A request that needs the session answers 503
 * session_unavailable within about storeTimeout, pages without a session keep working, one error
 * event per outage, and the next request after Redis returns works without a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { OpenID, OpenIDError, redisSession, type RedisSessionOptions } from '../../src/index.js';
import { startHostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { startOwnRedis, type OwnRedis } from '../support/redis.js';
import { Jar, serve } from './http.js';

/** The app's own client, with ioredis defaults (its connection errors are the app's to log). */
function quietClient(url: string): Redis {
  const client = new Redis(url);
  client.on('error', () => {});
  return client;
}

async function startApp(options: RedisSessionOptions) {
  const app = new Koa();
  app.keys = ['faults'];
  const sessions = redisSession(app, options);
  app.use(sessions);
  app.use((ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'alice';
    if (ctx.path === '/public') return void (ctx.body = 'public');
    ctx.body = { user: ctx.session.user ?? null };
  });
  const events: OpenIDError[] = [];
  app.on('error', (err: unknown) => void (err instanceof OpenIDError && events.push(err)));
  const served = await serve(app);
  return { url: served.url, events, close: async () => (await served.close(), await sessions.close()) };
}

/** An app with one provider (a hostile one of the test's own) and sessions in a Redis of its own. */
async function startLoginApp() {
  const redis = await startOwnRedis();
  const op = await startHostileProvider({ clientId: 'faulty' });
  const app = new Koa();
  app.silent = true;
  const sessions = redisSession(app, { redis: redis.url, storeTimeout: 500 });
  app.use(sessions);
  const openid = new OpenID(app, { name: 'op', clientId: 'faulty', clientSecret: 'faulty-secret-0123456789abcdef01', configuration: op.discoveryUrl, allowInsecureRequests: true });
  return { redis, op, app, openid, sessions };
}

/** A GET as the logged-in user: status, error code, milliseconds. */
async function timed(url: string, jar: Jar) {
  const started = performance.now();
  const res = await jar.fetch(url, { headers: { accept: 'application/json' } });
  const body = (await res.json().catch(() => ({}))) as { error?: string; user?: string };
  return { status: res.status, error: body.error, user: body.user, ms: performance.now() - started };
}

async function eventually<T>(what: () => Promise<T>, ok: (value: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (ok(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [kind, makeOptions] of [
  ['a client created from a URL', (r: OwnRedis) => ({ redis: r.url, storeTimeout: 500 })],
  ['a given ioredis client with default settings', (r: OwnRedis) => ({ redis: quietClient(r.url), storeTimeout: 500 })],
] as const) {
  test(`Redis killed, then back (data lost), with ${kind}: 503 within the store timeout, public pages fine, one event, recovery`, async () => {
    const redis = await startOwnRedis();
    const options = makeOptions(redis);
    const t = await startApp(options);
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/login'));
      assert.equal((await timed(t.url('/me'), jar)).user, 'alice');

      await redis.kill();
      for (let i = 0; i < 3; i++) {
        const r = await timed(t.url('/me'), jar);
        assert.equal(r.status, 503);
        assert.equal(r.error, 'session_unavailable');
        assert.ok(r.ms < 1500, `answered in ${r.ms.toFixed(0)} ms`);
      }
      assert.equal((await fetch(t.url('/public'))).status, 200, 'a page without a session cookie needs no Redis');
      const publicPage = await timed(t.url('/public'), jar);
      assert.equal(publicPage.status, 200, 'a page that does not use ctx.session answers, also for a visitor whose session holds app data');
      assert.equal(t.events.length, 1, 'one error event for the outage');
      assert.equal(t.events[0]!.code, 'session_unavailable');

      await redis.restart();
      // Back without a restart of the app; the data was lost with the server, so no login is resurrected.
      const back = await eventually(() => timed(t.url('/me'), jar), (r) => r.status === 200, 3000);
      assert.equal(back.status, 200);
      assert.equal(back.user, null);
    } finally {
      await t.close();
      if (typeof options.redis !== 'string') options.redis.disconnect();
      await redis.close();
    }
  });
}

test('Redis stalled (SIGSTOP), then resumed: 503 within the store timeout, the login is still there afterwards', async () => {
  const redis = await startOwnRedis();
  const client = quietClient(redis.url); // ioredis defaults: no command timeout of its own
  const t = await startApp({ redis: client, storeTimeout: 500 });
  try {
    const jar = new Jar();
    await jar.fetch(t.url('/login'));
    redis.pause();
    const r = await timed(t.url('/me'), jar);
    assert.equal(r.status, 503);
    assert.ok(r.ms < 1500, `answered in ${r.ms.toFixed(0)} ms`);
    redis.resume();
    const back = await eventually(() => timed(t.url('/me'), jar), (x) => x.status === 200, 3000);
    assert.equal(back.user, 'alice', 'no login lost when the data survived');
  } finally {
    redis.resume();
    await t.close();
    client.disconnect();
    await redis.close();
  }
});

test('a login in flight when Redis dies ends with that 503, and no half-stored login appears when it returns', async () => {
  const { redis, op, app, openid, sessions } = await startLoginApp();
  app.use(openid.optional()).use((ctx) => (ctx.body = { user: ctx.state.user?.sub ?? null }));
  const served = await serve(app);
  try {
    const b = new Browser();
    const start = await b.get(served.url('/openid/op/login'));
    const callback = (await b.get(start.headers.get('location')!)).headers.get('location')!;
    await redis.kill();
    const failed = await b.get(callback, { headers: { accept: 'application/json' } });
    assert.equal(failed.status, 503);
    assert.equal(((await failed.json()) as { error: string }).error, 'session_unavailable');
    await redis.restart();
    const me = await eventually(async () => b.get(served.url('/me'), { headers: { accept: 'application/json' } }), (r) => r.status === 200, 3000);
    assert.deepEqual(await me.json(), { user: null }, 'no login appeared');
    assert.equal(op.tokenRequests.length, 0, 'the code was never exchanged');
  } finally {
    await served.close();
    await sessions.close();
    await op.close();
    await redis.close();
  }
});

test('a logged-in user while Redis is stalled: guarded pages 503 within the store timeout, other pages answer at once', async () => {
  const { redis, op, app, openid, sessions } = await startLoginApp();
  app.use(async (ctx, next) => (ctx.path === '/public' ? void (ctx.body = 'public') : next()));
  app.use(openid.required({ redirect: false })).use((ctx) => (ctx.body = { user: ctx.state.user?.sub ?? null }));
  const served = await serve(app);
  try {
    const b = new Browser();
    const { response } = await b.follow(served.url('/openid/op/login?returnTo=/me'), { headers: { accept: 'application/json' } });
    assert.deepEqual(await response.json(), { user: 'alice' });
    redis.pause();
    const started = performance.now();
    const guarded = await b.get(served.url('/me'), { headers: { accept: 'application/json' } });
    const guardedMs = performance.now() - started;
    assert.equal(guarded.status, 503);
    assert.equal(((await guarded.json()) as { error: string }).error, 'session_unavailable');
    assert.ok(guardedMs < 1500, `answered in ${guardedMs.toFixed(0)} ms`);
    const before = performance.now();
    const page = await b.get(served.url('/public'));
    assert.equal(page.status, 200);
    assert.ok(performance.now() - before < 200, 'no wait on Redis for a page that does not use the session');
    redis.resume();
    const back = await eventually(async () => b.get(served.url('/me'), { headers: { accept: 'application/json' } }), (r) => r.status === 200, 3000);
    assert.deepEqual(await back.json(), { user: 'alice' }, 'the login survived');
  } finally {
    redis.resume();
    await served.close();
    await sessions.close();
    await op.close();
    await redis.close();
  }
});
