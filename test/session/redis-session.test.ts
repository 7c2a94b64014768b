import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import Koa from 'koa';
import type { Redis } from 'ioredis';
import { RedisStore, redisSession, type RedisSessionOptions } from '../../src/session/index.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { Jar, serve, setCookies } from './http.js';

const redis = newRedis();
after(() => redis.quit());

const ID = /^[ad][\w-]{44}$/;
/** The Redis key of the session a cookie value names. */
const keyOf = (prefix: string, cookie: string) => prefix + cookie.slice(1, 23);
const COOKIE = 'koa-session-openid';

/** A login-like app: /login stores data (after regenerate), /me reads it, /touch changes it, /logout ends it. */
async function startApp(options: RedisSessionOptions, setup?: (app: Koa) => void) {
  const app = new Koa();
  app.keys = ['session-test-key'];
  setup?.(app);
  const sessions = redisSession(app, options);
  app.use(sessions);
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/login':
        await ctx.session.regenerate();
        ctx.session.user = { sub: 'alice', marker: String(ctx.query.marker ?? 'none') };
        ctx.body = 'ok';
        return;
      case '/me':
        ctx.body = { user: ctx.session.user ?? null, isNew: ctx.session.isNew };
        return;
      case '/touch':
        ctx.session.visits = ((ctx.session.visits as number | undefined) ?? 0) + 1;
        ctx.body = 'ok';
        return;
      case '/public':
        ctx.body = 'public';
        return;
      case '/lifetime':
        ctx.session.maxAge = ctx.query.maxAge === 'session' ? 'session' : Number(ctx.query.maxAge);
        ctx.body = 'ok';
        return;
      case '/logout':
        ctx.session = null;
        ctx.body = 'bye';
        return;
      default:
        ctx.status = 404;
    }
  });
  const served = await serve(app);
  return {
    app,
    sessions,
    url: served.url,
    async close() {
      await served.close();
      await sessions.close();
    },
  };
}

/** Watches the commands Redis executes on keys under `prefix` (MONITOR on its own connection). */
async function watchRedis(prefix: string) {
  const base = newRedis();
  const monitor = await base.monitor(); // a second connection, in monitor mode
  base.disconnect();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    // Commands a script runs are reported too (source "lua"): count the script once.
    if (source !== 'lua' && args.slice(1).some((a) => a.startsWith(prefix))) seen.push([args[0]!.toUpperCase(), ...args.slice(1)]);
  });
  return {
    seen,
    /** Waits until every command sent so far has been seen (MONITOR reports in execution order). */
    async settle() {
      const mark = `${prefix}mark:${randomUUID()}`;
      await redis.exists(mark);
      for (let i = 0; i < 200 && !seen.some((c) => c[1] === mark); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(seen.some((c) => c[1] === mark), 'MONITOR saw the mark');
    },
    writes: () => seen.filter((c) => ['SET', 'HSET', 'DEL', 'PEXPIRE', 'EVALSHA', 'EVAL'].includes(c[0]!)),
    close: () => monitor.disconnect(),
  };
}

describe('redisSession over HTTP', () => {
  it('keeps the data in Redis; the cookie holds only a random id, the store only its secret\'s hash', async () => {
    const prefix = uniquePrefix('http-opaque');
    const t = await startApp({ redis, prefix });
    try {
      const marker = `secret-${randomUUID()}`;
      const jar = new Jar();
      const res = await jar.fetch(t.url(`/login?marker=${marker}`));
      assert.equal(res.status, 200);
      const cookies = setCookies(res);
      assert.deepEqual(cookies.map((c) => c.name), [COOKIE], 'one cookie, no signature cookie');
      for (const c of cookies) {
        assert.ok(!c.raw.includes(marker), 'no session data in Set-Cookie');
        assert.ok(!c.raw.includes(Buffer.from(marker).toString('base64').slice(0, 12)), 'no encoded session data in Set-Cookie');
      }
      const id = jar.cookies.get(COOKIE)!;
      assert.match(id, ID);
      assert.equal(id[0], 'd', 'the cookie says the session holds app data');
      const stored = await redis.hgetall(keyOf(prefix, id));
      assert.match(stored.d!, new RegExp(marker));
      assert.equal(stored.k, createHash('sha256').update(id.slice(23)).digest('base64url'), 'the store keeps the secret\'s hash');
      assert.ok(!Object.values(stored).some((v) => v.includes(id.slice(23))), 'and never the secret');

      const me = await (await jar.fetch(t.url('/me'))).json();
      assert.deepEqual(me, { user: { sub: 'alice', marker }, isNew: false });
    } finally {
      await t.close();
    }
  });

  it('sets HttpOnly, SameSite=Lax, an expiry from maxAge, and no Secure over http', async () => {
    const prefix = uniquePrefix('http-attrs');
    const t = await startApp({ redis, prefix, maxAge: 60_000 });
    try {
      const res = await fetch(t.url('/login'));
      const [c, ...more] = setCookies(res);
      assert.equal(more.length, 0);
      assert.equal(c!.name, COOKIE);
      assert.equal(c!.attrs.get('httponly'), '', 'HttpOnly');
      assert.equal(c!.attrs.get('samesite'), 'Lax', 'SameSite');
      assert.equal(c!.attrs.has('secure'), false, 'not Secure');
      assert.equal(c!.attrs.get('path'), '/');
      assert.equal(c!.attrs.get('max-age'), '60');
      const expires = Date.parse(c!.attrs.get('expires')!);
      assert.ok(Math.abs(expires - (Date.now() + 60_000)) < 5_000, 'expires in ~60 s');
      const pttl = await redis.pttl(keyOf(prefix, c!.value));
      assert.ok(pttl > 55_000 && pttl <= 60_000, `store TTL is maxAge (${pttl})`);
    } finally {
      await t.close();
    }
  });

  it('sets Secure on https as seen through a trusted proxy (app.proxy + X-Forwarded-Proto)', async () => {
    const trusted = await startApp({ redis, prefix: uniquePrefix('http-proxy') }, (app) => { app.proxy = true; });
    const untrusted = await startApp({ redis, prefix: uniquePrefix('http-noproxy') });
    try {
      const https = { headers: { 'x-forwarded-proto': 'https' } };
      for (const c of setCookies(await fetch(trusted.url('/login'), https))) {
        assert.equal(c.attrs.has('secure'), true, `${c.name} Secure behind a trusted proxy`);
      }
      for (const c of setCookies(await fetch(untrusted.url('/login'), https))) {
        assert.equal(c.attrs.has('secure'), false, `${c.name}: X-Forwarded-Proto is ignored without app.proxy`);
      }
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });

  it("maxAge 'session' gives a browser-session cookie, kept in Redis for sessionTtl, also after later changes", async () => {
    const prefix = uniquePrefix('http-browser-session');
    const t = await startApp({ redis, prefix, maxAge: 'session', sessionTtl: 30_000 });
    try {
      const jar = new Jar();
      for (const path of ['/login', '/touch']) {
        const [c] = setCookies(await jar.fetch(t.url(path)));
        assert.equal(c!.attrs.has('expires'), false, `${path}: no Expires`);
        assert.equal(c!.attrs.has('max-age'), false, `${path}: no Max-Age`);
        const pttl = await redis.pttl(keyOf(prefix, jar.cookies.get(COOKIE)!));
        assert.ok(pttl > 25_000 && pttl <= 30_000, `${path}: PTTL ${pttl}`);
      }
      assert.equal(((await (await jar.fetch(t.url('/me'))).json()) as { user: { sub: string } }).user.sub, 'alice');
    } finally {
      await t.close();
    }
  });

  it('ctx.session.maxAge sets one session\'s lifetime (a number or \'session\'), kept by later writes', async () => {
    const prefix = uniquePrefix('http-own-lifetime');
    const t = await startApp({ redis, prefix, maxAge: 60_000, sessionTtl: 30_000 });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/touch'));
      let [c] = setCookies(await jar.fetch(t.url('/lifetime?maxAge=120000')));
      assert.equal(c!.attrs.get('max-age'), '120');
      [c] = setCookies(await jar.fetch(t.url('/touch')));
      assert.equal(c!.attrs.get('max-age'), '120', 'a later write keeps the session\'s own lifetime');
      const pttl = await redis.pttl(keyOf(prefix, jar.cookies.get(COOKIE)!));
      assert.ok(pttl > 115_000 && pttl <= 120_000, `PTTL ${pttl}`);
      [c] = setCookies(await jar.fetch(t.url('/lifetime?maxAge=session')));
      assert.equal(c!.attrs.has('max-age'), false);
      const pttl2 = await redis.pttl(keyOf(prefix, jar.cookies.get(COOKIE)!));
      assert.ok(pttl2 > 25_000 && pttl2 <= 30_000, `'session' is kept for sessionTtl: PTTL ${pttl2}`);
    } finally {
      await t.close();
    }
  });

  it('is lazy: a request that does not use the session sends no Redis command and sets no cookie, with or without a session cookie', async () => {
    const prefix = uniquePrefix('http-lazy');
    const t = await startApp({ redis, prefix });
    const watch = await watchRedis(prefix);
    try {
      const anonymous = await fetch(t.url('/public'));
      assert.deepEqual(anonymous.headers.getSetCookie(), []);
      const jar = new Jar();
      await jar.fetch(t.url('/touch'));
      jar.cookies.set(COOKIE, `a${jar.cookies.get(COOKIE)!.slice(1)}`); // a session without app data
      await watch.settle();
      const before = watch.seen.length;
      for (let i = 0; i < 3; i++) {
        const res = await jar.fetch(t.url('/public'));
        assert.equal(await res.text(), 'public');
        assert.deepEqual(res.headers.getSetCookie(), []);
      }
      await fetch(t.url('/public'), { headers: { cookie: `${COOKIE}=garbage` } });
      await watch.settle();
      assert.deepEqual(watch.seen.slice(before).filter((c) => !c[1]!.includes('mark:')), [], 'no command for pages that do not use the session');

      // A session with app data is loaded before the request (ctx.session is synchronous): one HMGET.
      jar.cookies.set(COOKIE, `d${jar.cookies.get(COOKIE)!.slice(1)}`);
      const mark = watch.seen.length;
      await jar.fetch(t.url('/public'));
      await watch.settle();
      assert.deepEqual(watch.seen.slice(mark).filter((c) => !c[1]!.includes('mark:')).map((c) => c[0]), ['HMGET']);
    } finally {
      await t.close();
      watch.close();
    }
  });

  it('never rewrites an unchanged session to Redis', async () => {
    const prefix = uniquePrefix('http-no-rewrite');
    const watch = await watchRedis(prefix);
    const t = await startApp({ redis, prefix });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/login'));
      await watch.settle();
      assert.ok(watch.writes().length > 0, 'the login was written (the monitor works)');

      const before = watch.writes().length;
      for (let i = 0; i < 3; i++) {
        const res = await jar.fetch(t.url('/me'));
        assert.equal(((await res.json()) as { user: { sub: string } }).user.sub, 'alice');
        assert.deepEqual(res.headers.getSetCookie(), [], 'no cookie re-sent for an unchanged session');
      }
      await fetch(t.url('/me')); // no cookie: a new, empty session is not stored either
      await watch.settle();
      assert.deepEqual(watch.writes().slice(before), [], 'no write for unchanged sessions');
      assert.ok(watch.seen.some((c) => c[0] === 'HMGET'), 'the session was read');

      await jar.fetch(t.url('/touch'));
      await watch.settle();
      assert.deepEqual(watch.writes().slice(before).map((c) => c[0]), ['EVALSHA'], 'a change is written once');
    } finally {
      await t.close();
      watch.close();
    }
  });

  it('regenerate() gives a new id; the old one stops working at once (no session fixation), the data stays', async () => {
    const prefix = uniquePrefix('http-regenerate');
    const t = await startApp({ redis, prefix });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/touch')); // an anonymous session, e.g. one an attacker planted
      const planted = jar.cookies.get(COOKIE)!;
      await jar.fetch(t.url('/login'));
      const id = jar.cookies.get(COOKIE)!;
      assert.notEqual(id, planted);
      const stored = await redis.hgetall(keyOf(prefix, id));
      assert.equal(JSON.parse(stored.d!).visits, 1, 'the data stayed');
      const attacker = await (await fetch(t.url('/me'), { headers: { cookie: `${COOKIE}=${planted}` } })).json();
      assert.deepEqual(attacker, { user: null, isNew: true }, 'the planted id is anonymous now');
    } finally {
      await t.close();
    }
  });

  it('a tampered, truncated, foreign or guessed cookie is an anonymous request, never an error', async () => {
    const prefix = uniquePrefix('http-forged');
    const t = await startApp({ redis, prefix });
    try {
      const victim = new Jar();
      await victim.fetch(t.url('/login'));
      const id = victim.cookies.get(COOKIE)!;
      const flip = (c: string, i: number) => c.slice(0, i) + (c[i] === 'A' ? 'B' : 'A') + c.slice(i + 1);
      for (const value of [flip(id, 30), flip(id, 5), id.slice(0, -1), `${id}x`, 'd' + 'A'.repeat(44), '', 'x'.repeat(5000), '%00%ff', `${id.slice(0, 23)}${'A'.repeat(22)}`]) {
        const res = await fetch(t.url('/me'), { headers: { cookie: `${COOKIE}=${value}` } });
        assert.equal(res.status, 200, value.slice(0, 40));
        assert.deepEqual(await res.json(), { user: null, isNew: true }, value.slice(0, 40));
      }
      // Writing with a forged id starts a new session; the victim's is untouched.
      const attacker = new Jar();
      attacker.cookies.set(COOKIE, flip(id, 30));
      await attacker.fetch(t.url('/touch'));
      assert.notEqual(keyOf(prefix, attacker.cookies.get(COOKIE)!), keyOf(prefix, id));
      assert.equal(((await (await victim.fetch(t.url('/me'))).json()) as { user: { sub: string } }).user.sub, 'alice');
      assert.equal(JSON.parse((await redis.hget(keyOf(prefix, id), 'd'))!).visits, undefined);
    } finally {
      await t.close();
    }
  });

  it('logout (ctx.session = null) deletes the stored session and clears the cookie', async () => {
    const prefix = uniquePrefix('http-logout');
    const t = await startApp({ redis, prefix });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/login'));
      const id = jar.cookies.get(COOKIE)!;
      const cleared = setCookies(await jar.fetch(t.url('/logout')));
      assert.equal(await redis.exists(keyOf(prefix, id)), 0);
      assert.ok(cleared.some((c) => c.name === COOKIE && c.value === ''), 'cookie cleared');
      assert.equal(jar.cookies.size, 0);
    } finally {
      await t.close();
    }
  });

  it('rolling restarts the lifetime on every request that uses the session; renew once half of it is gone', async () => {
    const prefix = uniquePrefix('http-rolling');
    const rolling = await startApp({ redis, prefix, maxAge: 60_000, rolling: true });
    const renew = await startApp({ redis, prefix: `${prefix}r:`, maxAge: 60_000, renew: true });
    try {
      for (const [t, p] of [[rolling, prefix], [renew, `${prefix}r:`]] as const) {
        const jar = new Jar();
        await jar.fetch(t.url('/touch'));
        const key = keyOf(p, jar.cookies.get(COOKIE)!);
        await redis.pexpire(key, 40_000); // a third of the lifetime gone
        const first = await jar.fetch(t.url('/me'));
        const pttl = await redis.pttl(key);
        if (t === rolling) {
          assert.ok(pttl > 55_000, `rolling: restarted (${pttl})`);
          assert.equal(setCookies(first)[0]?.attrs.get('max-age'), '60');
        } else {
          assert.ok(pttl <= 40_000, `renew: not yet (${pttl})`);
          assert.deepEqual(first.headers.getSetCookie(), []);
          await redis.pexpire(key, 20_000); // two thirds gone
          const second = await jar.fetch(t.url('/me'));
          assert.ok((await redis.pttl(key)) > 55_000, 'renew: restarted');
          assert.equal(setCookies(second)[0]?.attrs.get('max-age'), '60');
        }
      }
    } finally {
      await rolling.close();
      await renew.close();
    }
  });

  it('connects from a URL (its own client, closed by close()) and never closes a given client', async () => {
    const prefix = uniquePrefix('http-url');
    const t = await startApp({ redis: redisUrl(), prefix });
    const jar = new Jar();
    await jar.fetch(t.url('/login'));
    assert.equal(await redis.exists(keyOf(prefix, jar.cookies.get(COOKIE)!)), 1);
    const own = (t.sessions.store as RedisStore).client as Redis;
    await t.close();
    assert.equal(own.status, 'end');
    await t.sessions.close(); // twice is fine

    const given = newRedis();
    const g = await startApp({ redis: given, prefix });
    await g.close();
    assert.equal(await given.ping(), 'PONG', 'a given client stays open');
    await given.quit();
  });

  it('uses REDIS_URL when neither redis nor store is given', async () => {
    assert.ok(process.env.REDIS_URL);
    const prefix = uniquePrefix('http-env');
    const t = await startApp({ prefix });
    try {
      assert.ok(t.sessions.store instanceof RedisStore);
      const jar = new Jar();
      await jar.fetch(t.url('/login'));
      assert.equal(await redis.exists(keyOf(prefix, jar.cookies.get(COOKIE)!)), 1);
    } finally {
      await t.close();
    }
  });
});

describe('the session cookie name', () => {
  it('is __Host- prefixed on https (a sibling subdomain cannot toss it), plain on http', async () => {
    const prefix = uniquePrefix('host-prefix');
    const t = await startApp({ redis, prefix }, (app) => (app.proxy = true));
    try {
      const https = setCookies(await fetch(t.url('/login'), { headers: { 'x-forwarded-proto': 'https' } }));
      assert.deepEqual(https.map((c) => c.name), ['__Host-koa-session-openid']);
      for (const c of https) {
        assert.ok(c.attrs.has('secure'), `${c.name} is Secure`);
        assert.equal(c.attrs.get('path'), '/');
        assert.equal(c.attrs.has('domain'), false);
      }
      // The prefixed cookie is read back on https.
      const cookie = https.map((c) => `${c.name}=${c.value}`).join('; ');
      const me = await (await fetch(t.url('/me'), { headers: { 'x-forwarded-proto': 'https', cookie } })).json();
      assert.deepEqual(me, { user: { sub: 'alice', marker: 'none' }, isNew: false });

      const http = setCookies(await fetch(t.url('/login')));
      assert.deepEqual(http.map((c) => c.name), [COOKIE]);
    } finally {
      await t.close();
    }
  });

  it('a name given as "key" is used as it is', async () => {
    const t = await startApp({ redis, prefix: uniquePrefix('own-key'), key: 'app.sid' }, (app) => (app.proxy = true));
    try {
      const https = setCookies(await fetch(t.url('/login'), { headers: { 'x-forwarded-proto': 'https' } }));
      assert.deepEqual(https.map((c) => c.name), ['app.sid']);
    } finally {
      await t.close();
    }
  });
});

describe('redisSession setup errors', () => {
  const app = () => new Koa();

  it('needs no app.keys: the id is not signed ("signed" is accepted and changes nothing)', () => {
    assert.doesNotThrow(() => redisSession(new Koa(), { redis }));
    assert.doesNotThrow(() => redisSession(new Koa(), { redis, signed: true }));
  });

  it('names the bad option', () => {
    const koaStore = { get: async () => undefined, set: async () => undefined, destroy: async () => undefined };
    const store = new RedisStore(redis);
    const cases: [RedisSessionOptions, string | RegExp][] = [
      [{ maxAge: -1 }, `"maxAge" must be a positive number of milliseconds or 'session'`],
      [{ maxAge: 'forever' as 'session' }, `"maxAge" must be a positive number of milliseconds or 'session'`],
      [{ maxAge: Infinity }, `"maxAge" must be a positive number of milliseconds or 'session'`],
      [{ sessionTtl: 0 }, '"sessionTtl" must be a positive number of milliseconds'],
      [{ storeTimeout: 0 }, '"storeTimeout" must be a positive number of milliseconds'],
      [{ storeTimeout: Number.NaN }, '"storeTimeout" must be a positive number of milliseconds'],
      [{ sameSite: 'bogus' as 'lax' }, `"sameSite" must be 'lax', 'strict' or 'none'`],
      [{ key: 'bad name' }, /^"key" must be a cookie name/],
      [{ redis: 'localhost:6379' }, '"redis" must be a redis:// or rediss:// URL or an ioredis client'],
      [{ redis: 42 as unknown as string }, '"redis" must be a redis:// or rediss:// URL or an ioredis client'],
      [{ store: {} as never }, /^"store" must be a RedisStore or MemoryStore/],
      [{ store: koaStore as never }, /koa-session store such as koa-redis goes with koa-session itself/],
      [{ httpOnly: 'yes' as unknown as boolean }, '"httpOnly" must be true or false'],
      [{ maxage: 1000 } as RedisSessionOptions, 'redisSession: unknown option "maxage"'],
      [{ redis, store }, /^"redis" and "store" cannot both be given/],
      [{ store, prefix: 'x:' }, /^"prefix" applies to the store redisSession creates/],
      [{ store, sessionTtl: 1000 }, /^"sessionTtl" applies to the store redisSession creates/],
      [{ redis, sameSite: 'none', secure: false }, /^"sameSite" 'none' needs Secure cookies/],
      [{ redis, key: '__Host-sid', secure: false }, /^"key" with the __Host- prefix needs Secure cookies/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => redisSession(app(), options), { name: 'TypeError', message }, JSON.stringify(Object.keys(options)));
    }
  });

  it('refuses a second session middleware on the same app', () => {
    const a = app();
    redisSession(a, { redis });
    assert.throws(() => redisSession(a, { redis, key: 'other' }), { name: 'TypeError', message: /already has session middleware/ });
  });

  it('refuses something that is not a Koa app', () => {
    assert.throws(() => redisSession({} as Koa), { name: 'TypeError', message: '"app" must be a Koa application' });
  });
});
