/**
 * koa-session with koa-redis, set up by the app, in place of redisSession: the library keeps its
 * logins in koa-session's ctx.session. Logins, guards, local logout and single-use states work;
 * what needs the built-in sessions (per-part writes, the login index) is in README.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Router from '@koa/router';
import session, { type CreateSessionOptions } from 'koa-session';
import koaRedis from 'koa-redis';
import { login, startFixture, type Fixture } from '../support/fixture.js';
import { newRedis } from '../support/redis.js';

const redis = newRedis();
let fx: Fixture;
const KEY = 'koa.sess';

before(async () => {
  fx = await startFixture(
    [{ name: 'alpha' }],
    (app, { alpha }) => {
      const router = new Router();
      router.get('/me', alpha!.required({ redirect: false }), async (ctx) => {
        ctx.body = { sub: ctx.state.user!.sub, tokens: Boolean((await alpha!.session(ctx))?.tokens.accessToken) };
      });
      router.post('/logout', async (ctx) => {
        ctx.body = { removed: await alpha!.logout(ctx) };
      });
      app.use(router.routes());
    },
    {
      sessions: (app, prefix) => {
        const store = koaRedis({ client: redis as never }) as unknown as CreateSessionOptions['store'];
        return session({ store, prefix, maxAge: 60_000, sameSite: 'lax' }, app);
      },
    },
  );
});
after(async () => {
  await fx.close();
  await redis.quit();
});

describe('koa-session + koa-redis (set up by the app)', () => {
  it('keeps logins in ctx.session, in Redis; the guard, tokens and local logout work', async () => {
    const b = fx.browser();
    const landed = await login(b, fx, 'alpha', '/me');
    assert.equal(landed.status, 200, landed.body);
    assert.deepEqual(JSON.parse(landed.body), { sub: 'alice', tokens: true });
    const id = b.cookies(fx.base)[KEY]!; // koa-session puts its prefix into the id
    const stored = JSON.parse((await redis.get(id))!) as { openid: { alpha: { claims: { sub: string } } } };
    assert.equal(stored.openid.alpha.claims.sub, 'alice');
    assert.deepEqual(await (await b.post(`${fx.base}/logout`, {})).json(), { removed: true });
    assert.equal((await b.get(`${fx.base}/me`, { headers: { accept: 'application/json' } })).status, 401);
  });

  it('a state is single use for two concurrent callbacks (SET NX on koa-redis\'s client)', async () => {
    const b = fx.browser();
    const { stoppedAt } = await b.follow(`${fx.base}/openid/alpha/login`, { stopAt: (url) => url.pathname === '/openid/alpha/auth' });
    const callback = stoppedAt!.href;
    const cookie = b.cookieHeader(callback);
    const answers = await Promise.all([0, 1].map(() => fetch(callback, { redirect: 'manual', headers: { cookie, accept: 'application/json' } })));
    assert.deepEqual(answers.map((r) => r.status).sort(), [302, 400]);
  });
});
