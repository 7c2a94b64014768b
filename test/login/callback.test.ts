/**
 * What a completed login does to the rest of the session, against the hostile provider: a planted
 * pending login cannot replace it, a state is single use even for concurrent callbacks, a reload
 * is no error, and the recorded scopes are the ones the current grant holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tokenHash } from '../../src/jwt/token-hash.js';
import { showLoginAtMe, sessionLogin, startHostileApp } from '../support/hostile-app.js';
import { Browser } from '../support/http-client.js';

const now = () => Math.floor(Date.now() / 1000);

/** Copies the cookies `from` holds for `base` into `to`: what cookie tossing from a sibling domain achieves. */
function plantCookies(from: Browser, to: Browser, base: string): void {
  const headers = new Headers();
  for (const c of from.cookieJar(base)) headers.append('set-cookie', `${c.name}=${c.value}; Path=${c.path}`);
  to.store(base, new Response(null, { headers }));
}

test('a pending login planted in the session before the login cannot replace it afterwards', async () => {
  const fx = await startHostileApp({}, showLoginAtMe);
  try {
    // The attacker starts a login in their own session and stops at the callback, holding its URL.
    const attacker = fx.browser();
    fx.op.subject = 'mallory';
    const start = await attacker.get(`${fx.base}/openid/hostile/login?returnTo=/attacker`);
    const held = (await attacker.get(start.headers.get('location')!)).headers.get('location')!;
    assert.match(held, /\/openid\/hostile\/auth\?code=/);

    // The victim's browser gets the attacker's session cookie planted, then logs in as themselves.
    const victim = fx.browser();
    plantCookies(attacker, victim, fx.base);
    fx.op.subject = 'alice';
    const done = await fx.login(victim, '/me');
    assert.equal(done.status, 200);
    assert.equal((await sessionLogin(fx, victim))?.claims.sub, 'alice');

    // The attacker's held callback, opened in the victim's browser (a cross-site GET), swaps nothing.
    const swap = await victim.get(held, { headers: { accept: 'application/json' } });
    assert.notEqual(swap.status, 302, 'the planted login did not complete');
    assert.equal((await sessionLogin(fx, victim))?.claims.sub, 'alice');
    assert.equal(fx.op.tokenRequests.length, 1, "the attacker's code was never exchanged");
  } finally {
    await fx.close();
  }
});

test('a state is single use even for two concurrent callbacks: one code exchange, one login', async () => {
  const fx = await startHostileApp({}, showLoginAtMe);
  try {
    // The token endpoint answers slowly, so both callbacks are in flight at once.
    fx.op.onToken(async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return fx.op.tokenAnswer(ctx);
    });
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/twice`);
    const callback = (await b.get(start.headers.get('location')!)).headers.get('location')!;
    const cookie = b.cookieHeader(callback);
    const [one, two] = await Promise.all(
      [0, 1].map(() => fetch(callback, { redirect: 'manual', headers: { cookie, accept: 'application/json' } })),
    );
    const statuses = [one!.status, two!.status].sort();
    assert.deepEqual(statuses, [302, 400], 'one completes, the other is refused');
    const refused = one!.status === 400 ? one! : two!;
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_state');
    assert.equal(fx.op.tokenRequests.length, 1, 'the code was exchanged once');
  } finally {
    await fx.close();
  }
});

test('a reload of the page handleUserLogin rendered redirects to returnTo instead of an error page', async () => {
  const fx = await startHostileApp({
    handleUserLogin: (ctx, login) => {
      ctx.body = `<p>Welcome ${login.claims.sub}</p>`;
    },
  });
  try {
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/dashboard`);
    const callback = (await b.get(start.headers.get('location')!)).headers.get('location')!;
    const page = await b.get(callback);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Welcome alice/);
    const reload = await b.get(callback, { headers: { accept: 'text/html' } });
    assert.equal(reload.status, 302);
    assert.equal(reload.headers.get('location'), '/dashboard');
  } finally {
    await fx.close();
  }
});

test('granted scopes follow the latest grant (RFC 6749 §5.1); a new login asks again for the scopes held', async () => {
  const fx = await startHostileApp({ scopes: ['openid', 'profile'] }, (app, openid) => {
    app.use(async (ctx, next) => {
      if (ctx.path === '/more') return openid.login(ctx, { scopes: ['email', 'phone'], returnTo: '/me' });
      return next();
    });
    showLoginAtMe(app, openid);
  });
  try {
    const b = fx.browser();
    await fx.login(b);
    assert.deepEqual((await sessionLogin(fx, b))!.scopes, ['openid', 'profile']);

    // Progressive consent: the provider grants email, not phone, and says so.
    fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, undefined, { scope: 'openid profile email' }));
    await b.follow(`${fx.base}/more`, { headers: { accept: 'application/json' } });
    assert.deepEqual((await sessionLogin(fx, b))!.scopes, ['openid', 'profile', 'email']);

    // A later login asks for what the login holds again; the grant now states fewer: fewer are recorded.
    fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, undefined, { scope: 'openid profile' }));
    await fx.login(b);
    assert.equal(fx.op.authorizations.at(-1)!.params.get('scope'), 'openid profile email');
    assert.deepEqual((await sessionLogin(fx, b))!.scopes, ['openid', 'profile']);
  } finally {
    await fx.close();
  }
});

test('implicit responses: the unbound front-channel "scope" proves nothing, only "openid" is recorded', async () => {
  // The user edits their own form post: adds a scope, keeps the requested ones, or drops the field.
  for (const [responseType, front] of [
    ['id_token token', 'openid profile admin'],
    ['id_token token', 'openid profile email'],
    ['id_token token', null],
    ['id_token', 'openid profile email admin'],
  ] as const) {
    const fx = await startHostileApp({ responseType }, showLoginAtMe);
    try {
      fx.op.onAuthorize(async (redirect, req) => {
        const accessToken = randomBytes(24).toString('base64url');
        const claims = { iss: fx.op.issuer, aud: 'hostile-client', sub: 'alice', nonce: req.nonce, iat: now(), exp: now() + 300, at_hash: tokenHash(accessToken, fx.op.keys.current.alg) };
        redirect.set('id_token', await fx.op.sign(claims));
        if (responseType === 'id_token token') {
          redirect.set('access_token', accessToken);
          redirect.set('token_type', 'Bearer');
        }
        redirect.delete('code');
        if (front !== null) redirect.set('scope', front);
      });
      const b = fx.browser();
      const done = await fx.login(b, '/me');
      assert.equal(done.status, 200, done.body);
      const requested = fx.op.authorizations.at(-1)!.params.get('scope');
      assert.equal(requested, 'openid profile email');
      assert.deepEqual((await sessionLogin(fx, b))!.scopes, ['openid'], `${responseType} / ${front}`);
    } finally {
      await fx.close();
    }
  }
});
