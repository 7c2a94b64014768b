/**
 * What a guard costs the store with a Keycloak-sized login: one command, at most 600 bytes read;
 * the tokens stay cold, and the whole login stays under 4 KiB.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import Router from '@koa/router';
import { validIdTokenClaims } from '../support/hostile-provider.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { newRedis } from '../support/redis.js';

/** A Keycloak ID token's claims (16 with the protocol ones), with Keycloak-like values. */
const KEYCLOAK_CLAIMS = {
  typ: 'ID',
  azp: 'hostile-client',
  sid: '4b1f3c9e-8d2a-4e7b-9c61-2f5a7d3e8b90',
  acr: '1',
  jti: '7e0b3c1a-9f4d-4a8e-b2c6-5d1e8f3a9b70',
  email_verified: true,
  name: 'Alice Pleasance Liddell',
  preferred_username: 'alice.liddell',
  given_name: 'Alice Pleasance',
  family_name: 'Liddell',
  email: 'alice.liddell@wonderland-engineering.example',
};

const redis = newRedis();
let fx: HostileApp;
before(async () => {
  fx = await startHostileApp({ scopes: ['openid', 'profile', 'email', 'offline_access'] }, (app, openid) => {
    const router = new Router();
    router.get('/private', openid.required({ redirect: false }), (ctx) => (ctx.body = { sub: ctx.state.user!.sub, name: ctx.state.user!.name, frozen: Object.isFrozen(ctx.state.user) }));
    app.use(router.routes());
  });
  // Keycloak-sized tokens: ~1.2 KB access token, ~0.8 KB refresh token, ~1 KB ID token.
  fx.op.onToken((ctx) =>
    fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), ...KEYCLOAK_CLAIMS }, {
      access_token: ctx.accessToken + randomBytes(870).toString('base64url'),
      refresh_token: randomBytes(600).toString('base64url'),
    }),
  );
});
after(async () => {
  await fx.close();
  await redis.quit();
});

async function monitor() {
  const base = newRedis();
  const m = await base.monitor();
  base.disconnect();
  const seen: string[][] = [];
  m.on('monitor', (_t: string, args: string[], source: string) => {
    if (source !== 'lua' && args.slice(1).some((a) => a.startsWith(fx.prefix))) seen.push(args);
  });
  return { seen, close: () => m.disconnect() };
}

test('a guarded request sends one command (HMGET of the secret\'s hash, the hot login and its last use), reading at most 650 bytes', async () => {
  const { browser } = await fx.login();
  const cookie = browser.cookies(fx.base)['koa-session-openid']!;
  const key = fx.prefix + cookie.slice(1, 23);
  const stored = await redis.hgetall(key);
  assert.ok(stored['t:hostile']!.length > 2800, `Keycloak-sized tokens are stored (${stored['t:hostile']!.length} bytes)`);

  const m = await monitor();
  try {
    for (let i = 0; i < 3; i++) assert.equal((await browser.get(`${fx.base}/private`, { headers: { accept: 'application/json' } })).status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(m.seen.map((c) => c.join(' ')), Array(3).fill(`hmget ${key} k l:hostile u:hostile`));
  } finally {
    m.close();
  }
  const read = stored.k!.length + stored['l:hostile']!.length + stored['u:hostile']!.length;
  assert.ok(read <= 650, `a guard reads ${read} bytes`);
  const total = Object.entries(stored).reduce((n, [f, v]) => n + f.length + v.length, 0);
  assert.ok(total <= 4096, `the stored login is ${total} bytes`);
});

test('a hot record is parsed once, keyed by its exact stored text: a changed record is seen at once; the claims are frozen', async () => {
  const { browser } = await fx.login();
  const key = fx.prefix + browser.cookies(fx.base)['koa-session-openid']!.slice(1, 23);
  const get = async () => (await browser.get(`${fx.base}/private`, { headers: { accept: 'application/json' } })).json();
  assert.deepEqual(await get(), { sub: 'alice', name: KEYCLOAK_CLAIMS.name, frozen: true });
  assert.deepEqual(await get(), { sub: 'alice', name: KEYCLOAK_CLAIMS.name, frozen: true });
  const hot = JSON.parse((await redis.hget(key, 'l:hostile'))!);
  await redis.hset(key, 'l:hostile', JSON.stringify({ ...hot, c: { ...hot.c, name: 'Changed elsewhere' } }));
  assert.equal((await get()).name, 'Changed elsewhere', 'another instance\'s write is seen by the next request');
  await redis.hdel(key, 'l:hostile');
  assert.equal((await browser.get(`${fx.base}/private`, { headers: { accept: 'application/json' } })).status, 401, 'and so is a logout');
});
