/**
 * Server-enforced lifetimes of a login (idle timeout, absolute lifetime): a login past either is
 * gone, also for a replayed cookie; a use is recorded at most once a minute and extends the
 * session in the store and the cookie. A logout that leaves nothing in the session ends it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type Koa from 'koa';
import type { OpenID } from '../../src/index.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { newRedis } from '../support/redis.js';

const COOKIE = 'koa-session-openid';
const redis = newRedis();
let fx: HostileApp;

function routes(app: Koa, openid: OpenID) {
  const guard = openid.required({ redirect: false });
  app.use(async (ctx, next) => {
    if (ctx.path === '/private') return guard(ctx, async () => void (ctx.body = { sub: ctx.state.user!.sub }));
    if (ctx.path === '/note') {
      ctx.session.note = 'kept';
      ctx.body = 'noted';
      return;
    }
    if (ctx.path === '/logout') {
      ctx.body = { removed: await openid.logout(ctx) };
      return;
    }
    return next();
  });
}

before(async () => {
  fx = await startHostileApp({ idleTimeout: 3600, absoluteLifetime: 7200 }, routes);
});
after(async () => {
  await fx.close();
  await redis.quit();
});

async function login() {
  const { browser } = await fx.login();
  const cookie = browser.cookies(fx.base)[COOKIE]!;
  return { browser, cookie, key: fx.prefix + cookie.slice(1, 23) };
}

const get = (path: string, cookie: string) => fetch(fx.base + path, { headers: { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' } });
const hot = async (key: string) => JSON.parse((await redis.hget(key, 'l:hostile'))!) as Record<string, unknown>;
const nowMs = () => Date.now();

test('a login records its lifetimes: idle timeout, absolute end, and its last use', async () => {
  const { key } = await login();
  const record = await hot(key);
  assert.equal(record.n, 3600);
  assert.ok(Math.abs((record.x as number) - (record.a as number) - 7200) <= 1);
  assert.ok(Math.abs(Number(await redis.hget(key, 'u:hostile')) - nowMs()) < 5000);
});

test('a login past its absolute lifetime is gone, even used all the time and with the cookie replayed; its index entry goes too', async () => {
  const { cookie, key } = await login();
  assert.equal((await get('/private', cookie)).status, 200);
  await redis.hset(key, 'l:hostile', JSON.stringify({ ...(await hot(key)), x: Math.floor(nowMs() / 1000) - 1 }));
  const res = await get('/private', cookie);
  assert.equal(res.status, 401);
  assert.equal(await redis.exists(key), 0, 'nothing else was in the session: it ended');
  assert.match(res.headers.getSetCookie().join(), new RegExp(`^${COOKIE}=;`), 'the cookie is cleared');
  assert.equal((await get('/private', cookie)).status, 401, 'the replayed cookie finds nothing');
  const subKeys = await redis.keys(`${fx.prefix}idx:hostile:sub:*`);
  for (const k of subKeys) assert.equal(await redis.zscore(k, cookie.slice(1, 23)), null, "unindexed");
});

test('a login idle past its timeout is gone; the app data in the session stays', async () => {
  const { browser, key } = await login();
  await browser.get(`${fx.base}/note`);
  const withData = browser.cookies(fx.base)[COOKIE]!;
  await redis.hset(key, 'u:hostile', String(nowMs() - 3600_000 - 1000));
  assert.equal((await get('/private', withData)).status, 401);
  assert.equal(await redis.hget(key, 'l:hostile'), null);
  assert.equal(await redis.hget(key, 't:hostile'), null, 'the tokens go with it');
  assert.ok(await redis.hget(key, 'd'), 'the app data stays');
});

test('a use is recorded at most once a minute, and the record extends the session in the store and the cookie', async () => {
  const { cookie, key } = await login();
  const first = await redis.hget(key, 'u:hostile');
  await redis.pexpire(key, 60_000);
  const soon = await get('/private', cookie);
  assert.equal(soon.status, 200);
  assert.equal(await redis.hget(key, 'u:hostile'), first, 'used again within a minute: not recorded');
  assert.deepEqual(soon.headers.getSetCookie(), [], 'no cookie either');
  assert.ok((await redis.pttl(key)) <= 60_000);

  const earlier = nowMs() - 61_000;
  await redis.hset(key, 'u:hostile', String(earlier));
  const later = await get('/private', cookie);
  assert.equal(later.status, 200);
  assert.ok(Number(await redis.hget(key, 'u:hostile')) > earlier + 60_000, 'recorded');
  assert.ok((await redis.pttl(key)) > 23 * 3600_000, 'the session lives a lifetime (1 day) from this use');
  assert.match(later.headers.getSetCookie().join(), /Max-Age=86400/, 'and so does the cookie');
});

test('a logout that leaves nothing ends the session; one that leaves app data keeps it', async () => {
  const { cookie, key } = await login();
  const res = await get('/logout', cookie);
  assert.deepEqual(await res.json(), { removed: true });
  assert.equal(await redis.exists(key), 0);
  assert.match(res.headers.getSetCookie().join(), new RegExp(`^${COOKIE}=;`));

  const kept = await login();
  await kept.browser.get(`${fx.base}/note`);
  const out = await kept.browser.get(`${fx.base}/logout`, { headers: { accept: 'application/json' } });
  assert.deepEqual(await out.json(), { removed: true });
  assert.equal(await redis.exists(kept.key), 1);
  assert.equal(await redis.hget(kept.key, 'l:hostile'), null);
});
