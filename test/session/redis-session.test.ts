import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import Koa from 'koa';
import type { Redis } from 'ioredis';
import { RedisStore, redisSession, type RedisSessionOptions } from '../../src/session/index.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { Jar, serve, setCookies } from './http.js';

const redis = newRedis();
after(() => redis.quit());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
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
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.slice(1).some((a) => a.startsWith(prefix))) seen.push([args[0]!.toUpperCase(), ...args.slice(1)]);
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
    writes: () => seen.filter((c) => ['SET', 'DEL', 'SETEX', 'PEXPIRE', 'EXPIRE'].includes(c[0]!)),
    close: () => monitor.disconnect(),
  };
}

describe('redisSession over HTTP', () => {
  it('keeps the data in Redis; the cookie holds only an opaque, signed id', async () => {
    const prefix = uniquePrefix('http-opaque');
    const t = await startApp({ redis, prefix });
    try {
      const marker = `secret-${randomUUID()}`;
      const jar = new Jar();
      const res = await jar.fetch(t.url(`/login?marker=${marker}`));
      assert.equal(res.status, 200);
      const cookies = setCookies(res);
      for (const c of cookies) {
        assert.ok(!c.raw.includes(marker), 'no session data in Set-Cookie');
        assert.ok(!c.raw.includes(Buffer.from(marker).toString('base64').slice(0, 12)), 'no encoded session data in Set-Cookie');
      }
      const id = jar.cookies.get(COOKIE)!;
      assert.match(id, UUID);
      assert.ok(jar.cookies.get(`${COOKIE}.sig`), 'signature cookie');
      assert.match((await redis.get(`${prefix}${id}`))!, new RegExp(marker));

      const me = await (await jar.fetch(t.url('/me'))).json();
      assert.deepEqual(me, { user: { sub: 'alice', marker }, isNew: false });
    } finally {
      await t.close();
    }
  });

  it('sets HttpOnly, SameSite=Lax, an expiry from maxAge, and no Secure over http', async () => {
    const t = await startApp({ redis, prefix: uniquePrefix('http-attrs'), maxAge: 60_000 });
    try {
      const res = await fetch(t.url('/login'));
      const cookies = setCookies(res).filter((c) => c.value !== '');
      assert.deepEqual(cookies.map((c) => c.name).sort(), [COOKIE, `${COOKIE}.sig`]);
      for (const c of cookies) {
        assert.equal(c.attrs.get('httponly'), '', `${c.name} HttpOnly`);
        assert.equal(c.attrs.get('samesite'), 'lax', `${c.name} SameSite`);
        assert.equal(c.attrs.has('secure'), false, `${c.name} not Secure`);
        assert.equal(c.attrs.get('path'), '/');
        const expires = Date.parse(c.attrs.get('expires')!);
        assert.ok(Math.abs(expires - (Date.now() + 60_000)) < 5_000, `${c.name} expires in ~60 s`);
      }
      const id = cookies.find((c) => c.name === COOKIE)!.value;
      const pttl = await redis.pttl(`${t.sessions.store instanceof RedisStore ? t.sessions.store.prefix : ''}${id}`);
      assert.ok(pttl > 60_000 && pttl <= 70_000, `store TTL is maxAge + 10 s (${pttl})`);
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

  it("maxAge 'session' gives a browser-session cookie, kept in Redis for sessionTtl", async () => {
    const prefix = uniquePrefix('http-browser-session');
    const t = await startApp({ redis, prefix, maxAge: 'session', sessionTtl: 30_000 });
    try {
      const jar = new Jar();
      const cookies = setCookies(await jar.fetch(t.url('/login')));
      for (const c of cookies.filter((c) => c.value !== '')) {
        assert.equal(c.attrs.has('expires'), false, `${c.name} has no Expires`);
        assert.equal(c.attrs.has('max-age'), false, `${c.name} has no Max-Age`);
      }
      const key = `${prefix}${jar.cookies.get(COOKIE)}`;
      const pttl = await redis.pttl(key);
      assert.ok(pttl > 25_000 && pttl <= 30_000, `PTTL ${pttl}`);
      assert.equal(((await (await jar.fetch(t.url('/me'))).json()) as { user: { sub: string } }).user.sub, 'alice');
    } finally {
      await t.close();
    }
  });

  it("maxAge 'session' survives regenerate() (koa-session stored it as a 1-day session on the second save)", async () => {
    const prefix = uniquePrefix('http-browser-session-regenerate');
    const t = await startApp({ redis, prefix, maxAge: 'session', sessionTtl: 30_000 });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/login')); // regenerate() saves once, the automatic commit saves again
      const stored = JSON.parse((await redis.get(`${prefix}${jar.cookies.get(COOKIE)}`))!);
      assert.equal(stored._session, true);
      assert.equal(stored._maxAge, undefined);
      assert.equal(stored._expire, undefined);
      // the next change must still set a browser-session cookie
      for (const c of setCookies(await jar.fetch(t.url('/touch')))) {
        assert.equal(c.attrs.has('expires'), false, `${c.name} has no Expires after a later change`);
      }
      const pttl = await redis.pttl(`${prefix}${jar.cookies.get(COOKIE)}`);
      assert.ok(pttl > 25_000 && pttl <= 30_000, `PTTL ${pttl}`);
    } finally {
      await t.close();
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
      assert.ok(watch.writes().some((c) => c[0] === 'SET'), 'the login was written (the monitor works)');

      const before = watch.writes().length;
      for (let i = 0; i < 3; i++) {
        const res = await jar.fetch(t.url('/me'));
        assert.equal(((await res.json()) as { user: { sub: string } }).user.sub, 'alice');
        assert.deepEqual(res.headers.getSetCookie(), [], 'no cookie re-sent for an unchanged session');
      }
      await fetch(t.url('/me')); // no cookie: a new, empty session is not stored either
      await watch.settle();
      assert.deepEqual(watch.writes().slice(before), [], 'no write for unchanged sessions');
      assert.ok(watch.seen.some((c) => c[0] === 'GET'), 'the session was read');

      await jar.fetch(t.url('/touch'));
      await watch.settle();
      assert.deepEqual(watch.writes().slice(before).map((c) => c[0]), ['SET'], 'a change is written once');
    } finally {
      await t.close();
      watch.close();
    }
  });

  it('regenerate() moves the data to a new id and deletes the old one (no session fixation)', async () => {
    const prefix = uniquePrefix('http-regenerate');
    const t = await startApp({ redis, prefix });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/touch')); // an anonymous session, e.g. one an attacker planted
      const planted = jar.cookies.get(COOKIE)!;
      assert.equal(await redis.exists(`${prefix}${planted}`), 1);

      await jar.fetch(t.url('/login'));
      const id = jar.cookies.get(COOKIE)!;
      assert.notEqual(id, planted);
      assert.equal(await redis.exists(`${prefix}${planted}`), 0, 'the old id is gone');
      assert.equal(JSON.parse((await redis.get(`${prefix}${id}`))!).visits, 1, 'the data moved over');
    } finally {
      await t.close();
    }
  });

  it('ignores a session id whose signature does not match', async () => {
    const prefix = uniquePrefix('http-forged');
    const t = await startApp({ redis, prefix });
    try {
      const victim = new Jar();
      await victim.fetch(t.url('/login'));
      const attacker = new Jar();
      await attacker.fetch(t.url('/touch'));
      attacker.cookies.set(COOKIE, victim.cookies.get(COOKIE)!); // the victim's id, the attacker's signature
      const me = (await (await attacker.fetch(t.url('/me'))).json()) as { user: unknown; isNew: boolean };
      assert.deepEqual(me, { user: null, isNew: true });
    } finally {
      await t.close();
    }
  });

  it('logout (ctx.session = null) deletes the stored session and clears the cookies', async () => {
    const prefix = uniquePrefix('http-logout');
    const t = await startApp({ redis, prefix });
    try {
      const jar = new Jar();
      await jar.fetch(t.url('/login'));
      const id = jar.cookies.get(COOKIE)!;
      const cleared = setCookies(await jar.fetch(t.url('/logout')));
      assert.equal(await redis.exists(`${prefix}${id}`), 0);
      assert.ok(cleared.some((c) => c.name === COOKIE && c.value === ''), 'cookie cleared');
      assert.equal(jar.cookies.size, 0);
    } finally {
      await t.close();
    }
  });

  it('connects from a URL (its own client, closed by close()) and never closes a given client', async () => {
    const prefix = uniquePrefix('http-url');
    const t = await startApp({ redis: redisUrl(), prefix });
    const jar = new Jar();
    await jar.fetch(t.url('/login'));
    assert.equal(await redis.exists(`${prefix}${jar.cookies.get(COOKIE)}`), 1);
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
      assert.equal(await redis.exists(`${prefix}${jar.cookies.get(COOKIE)}`), 1);
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
      assert.deepEqual(https.map((c) => c.name).sort(), ['__Host-koa-session-openid', '__Host-koa-session-openid.sig']);
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
      assert.deepEqual(http.map((c) => c.name).sort(), [COOKIE, `${COOKIE}.sig`]);
    } finally {
      await t.close();
    }
  });

  it('a name given as "key" is used as it is', async () => {
    const t = await startApp({ redis, prefix: uniquePrefix('own-key'), key: 'app.sid' }, (app) => (app.proxy = true));
    try {
      const https = setCookies(await fetch(t.url('/login'), { headers: { 'x-forwarded-proto': 'https' } }));
      assert.deepEqual(https.map((c) => c.name).sort(), ['app.sid', 'app.sid.sig']);
    } finally {
      await t.close();
    }
  });
});

describe('redisSession setup errors', () => {
  const app = () => Object.assign(new Koa(), { keys: ['k'] });

  it('requires app.keys when cookies are signed', () => {
    assert.throws(() => redisSession(new Koa(), { redis }), { name: 'TypeError', message: /^"app\.keys" must be set/ });
    assert.throws(() => redisSession(Object.assign(new Koa(), { keys: [] }), { redis }), { name: 'TypeError', message: /^"app\.keys" must be set/ });
    assert.doesNotThrow(() => redisSession(new Koa(), { redis, signed: false }));
  });

  it('refuses app.keys that are not non-empty strings or Buffers (an unset SESSION_SECRET), naming app.keys', () => {
    for (const keys of [[undefined], [''], ['ok', undefined], [42], [null], 'not-an-array']) {
      const bad = Object.assign(new Koa(), { keys: keys as unknown as string[] });
      assert.throws(() => redisSession(bad, { redis }), { name: 'TypeError', message: /^"app\.keys"/ }, JSON.stringify(keys));
    }
    assert.doesNotThrow(() => redisSession(Object.assign(new Koa(), { keys: [Buffer.from('k'), 'k2'] }), { redis }));
  });

  it('names the bad option', () => {
    const store = { get: async () => undefined, set: async () => undefined, destroy: async () => undefined };
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
      [{ store: {} as never }, /^"store" must be a koa-session store/],
      [{ httpOnly: 'yes' as unknown as boolean }, '"httpOnly" must be true or false'],
      [{ maxage: 1000 } as RedisSessionOptions, 'redisSession: unknown option "maxage"'],
      [{ redis, store }, /^"redis" and "store" cannot both be given/],
      [{ store, prefix: 'x:' }, /^"prefix" applies to the built-in stores only/],
      [{ store, sessionTtl: 1000 }, /^"sessionTtl" applies to the built-in stores only/],
      [{ redis, sameSite: 'none', secure: false }, /^"sameSite" 'none' needs Secure cookies/],
      [{ redis, key: '__Host-sid', secure: false }, /^"key" with the __Host- prefix needs Secure cookies/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => redisSession(app(), options), { name: 'TypeError', message }, JSON.stringify(options));
    }
  });

  it('refuses a second session middleware on the same app (koa-session would ignore its options)', () => {
    const a = app();
    redisSession(a, { redis });
    assert.throws(() => redisSession(a, { redis, key: 'other' }), { name: 'TypeError', message: /already has session middleware/ });
  });

  it('refuses something that is not a Koa app', () => {
    assert.throws(() => redisSession({} as Koa), { name: 'TypeError', message: '"app" must be a Koa application' });
  });
});
