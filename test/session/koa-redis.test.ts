import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Koa from 'koa';
import koaRedis from 'koa-redis';
import { redisSession, type RedisSessionOptions } from '../../src/session/index.js';
import { newRedis, redisUrl } from '../support/redis.js';
import { Jar, serve } from './http.js';

const redis = newRedis();
after(() => redis.quit());

const COOKIE = 'koa-session-openid';

async function loginRoundTrip(options: RedisSessionOptions) {
  const app = new Koa();
  app.keys = ['koa-redis-test-key'];
  app.use(redisSession(app, options));
  app.use(async (ctx) => {
    if (ctx.path === '/login') {
      await ctx.session.regenerate();
      ctx.session.user = { sub: 'bob' };
    } else if (ctx.path === '/logout') {
      ctx.session = null;
    }
    ctx.body = { user: ctx.session?.user ?? null };
  });
  const served = await serve(app);
  try {
    const jar = new Jar();
    const login = await jar.fetch(served.url('/login'));
    assert.equal(login.status, 200, await login.clone().text());
    const id = jar.cookies.get(COOKIE)!;
    // koa-redis stores under the bare session id (no prefix), in seconds (SETEX)
    const ttl = await redis.ttl(id);
    assert.ok(ttl > 60 && ttl <= 70, `TTL ${ttl}`);
    assert.deepEqual(await (await jar.fetch(served.url('/me'))).json(), { user: { sub: 'bob' } });
    await jar.fetch(served.url('/logout'));
    assert.equal(await redis.exists(id), 0);
    return served;
  } finally {
    await served.close();
  }
}

describe('koa-redis as { store }', () => {
  it('keeps a login with koa-redis over the app ioredis 6 client (numeric maxAge)', async () => {
    const client = newRedis();
    try {
      await loginRoundTrip({ store: koaRedis({ client }), maxAge: 60_000 });
    } finally {
      await client.quit();
    }
  });

  it('keeps a login with koa-redis over its own ioredis 4 client from a URL', async () => {
    const store = koaRedis({ url: redisUrl() });
    try {
      await loginRoundTrip({ store, maxAge: 60_000 });
    } finally {
      await store.client.quit();
    }
  });

  it("cannot store maxAge 'session' (it sends SETEX key 'session'): the documented limitation", async () => {
    const client = newRedis();
    const app = new Koa();
    app.keys = ['koa-redis-test-key'];
    app.silent = true;
    const errors: Error[] = [];
    app.on('error', (err: Error) => errors.push(err));
    app.use(redisSession(app, { store: koaRedis({ client }), maxAge: 'session' }));
    app.use((ctx) => {
      ctx.session.user = { sub: 'bob' };
      ctx.body = 'ok';
    });
    const served = await serve(app);
    try {
      // The store's failure is the session store failing: 503 session_unavailable, reported as an error event.
      const res = await fetch(served.url('/'));
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: string }).error, 'session_unavailable');
      assert.match(String((errors[0]?.cause as { message?: string } | undefined)?.message), /not an integer/);
    } finally {
      await served.close();
      await client.quit();
    }
  });
});
