/**
 * Each stored login is findable by provider + sid and provider + sub, from any instance sharing
 * the store, until its session ends: what a logout from the provider (back-channel) needs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Router from '@koa/router';
import { RedisStore } from '../../src/session/index.js';
import { indexKey, sessionsWithLogin } from '../../src/session/login-index.js';
import { validIdTokenClaims } from '../support/hostile-provider.js';
import { showLoginAtMe, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { newRedis } from '../support/redis.js';

const redis = newRedis();
let fx: HostileApp;
let store: RedisStore;
let sid = 'provider-session-1';
before(async () => {
  fx = await startHostileApp({}, (app, openid) => {
    const router = new Router();
    router.post('/logout', async (ctx) => (ctx.body = { removed: await openid.logout(ctx) }));
    app.use(router.routes());
  });
  fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
  store = new RedisStore(redis, { prefix: fx.prefix }); // another instance's view of the same store
});
after(async () => {
  await fx.close();
  await redis.quit();
});

const tagOf = (cookie: string) => cookie.slice(1, 23);

test('a login is indexed by sid and by sub; the entries end with the login and expire after the session', async () => {
  sid = 'provider-session-1';
  const { browser: first } = await fx.login();
  sid = 'provider-session-2';
  const { browser: second } = await fx.login();
  const a = tagOf(first.cookies(fx.base)['koa-session-openid']!);
  const b = tagOf(second.cookies(fx.base)['koa-session-openid']!);

  assert.deepEqual(await sessionsWithLogin(store, 'hostile', { sid: 'provider-session-1' }), [a]);
  assert.deepEqual(await sessionsWithLogin(store, 'hostile', { sid: 'provider-session-2' }), [b]);
  assert.deepEqual((await sessionsWithLogin(store, 'hostile', { sub: 'alice' })).sort(), [a, b].sort());
  assert.deepEqual(await sessionsWithLogin(store, 'other', { sub: 'alice' }), [], 'per provider');

  const sessionTtl = await redis.pttl(fx.prefix + a);
  const indexTtl = await redis.pttl(indexKey(fx.prefix, 'hostile', { sid: 'provider-session-1' }));
  // Kept half a lifetime longer than the session: re-indexed once per half lifetime when it is extended.
  assert.ok(indexTtl > 0 && Math.abs(indexTtl - sessionTtl * 1.5) < 5_000, `the index expires with the session (${indexTtl} vs ${sessionTtl})`);

  assert.deepEqual(await (await first.post(`${fx.base}/logout`, {})).json(), { removed: true });
  assert.deepEqual(await sessionsWithLogin(store, 'hostile', { sid: 'provider-session-1' }), []);
  assert.deepEqual(await sessionsWithLogin(store, 'hostile', { sub: 'alice' }), [b]);
});

test('a login that could not be indexed is not kept: the callback fails (503), no login is stored', async () => {
  sid = 'provider-session-unindexable';
  // The index entry cannot be written (the key holds a string): the ZADD fails.
  await redis.set(indexKey(fx.prefix, 'hostile', { sid }), 'not a sorted set');
  try {
    const browser = fx.browser();
    const landed = await fx.login(browser);
    assert.equal(landed.status, 503, landed.body);
    assert.equal(JSON.parse(landed.body).error, 'session_unavailable');
    const cookie = browser.cookies(fx.base)['koa-session-openid'];
    if (cookie) assert.equal(await redis.hget(fx.prefix + tagOf(cookie), 'l:hostile'), null, 'no login without its index entry');
  } finally {
    await redis.del(indexKey(fx.prefix, 'hostile', { sid }));
  }
});

test('index entries live as long as their session: a rolling session used past them is indexed again', async () => {
  const rolling = await startHostileApp({}, showLoginAtMe, undefined, { rolling: true, maxAge: 10_000 });
  try {
    rolling.op.onToken((ctx) => rolling.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid: 'rolling-sid' }));
    const { browser } = await rolling.login();
    const tag = tagOf(browser.cookies(rolling.base)['koa-session-openid']!);
    const key = indexKey(rolling.prefix, 'hostile', { sid: 'rolling-sid' });
    const until = Number(await redis.hget(rolling.prefix + tag, 'i'));
    assert.ok(Math.abs(until - (Date.now() + 15_000)) < 2_000, 'indexed for the lifetime and half of it');
    assert.ok(Math.abs(Number(await redis.zscore(key, tag)) - until) < 1_000);
    // As if 9 s had passed: the entry ends in 1 s, the session would now be extended to 10 s.
    const soon = Date.now() + 1_000;
    await redis.hset(rolling.prefix + tag, 'i', String(soon));
    await redis.zadd(key, soon, tag);
    assert.equal((await browser.get(`${rolling.base}/me`, { headers: { accept: 'application/json' } })).status, 200);
    const again = Number(await redis.zscore(key, tag));
    assert.ok(again > Date.now() + 10_000, `indexed again past the session's new end (${again - Date.now()} ms)`);
    assert.equal(Number(await redis.hget(rolling.prefix + tag, 'i')), again);
  } finally {
    await rolling.close();
  }
});
