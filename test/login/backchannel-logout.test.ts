/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0) against a hostile provider of our
 * own: each check of §2.6 refuses a bad logout token with 400 and ends nothing; a valid one ends
 * the sessions of its sid (or of its sub) on every instance sharing Redis, and is used once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/jwt/logout-token.js';
import { validIdTokenClaims } from '../support/hostile-provider.js';
import { showLoginAtMe, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { Browser } from '../support/http-client.js';

let fx: HostileApp;
let sid = 'op-session-1';
before(async () => {
  fx = await startHostileApp({}, showLoginAtMe);
  fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
});
after(() => fx.close());

const now = () => Math.floor(Date.now() / 1000);

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: fx.op.issuer,
    aud: 'hostile-client',
    iat: now(),
    exp: now() + 120,
    jti: randomUUID(),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    sid,
    sub: 'alice',
    ...overrides,
  };
}

async function post(body: string, contentType = 'application/x-www-form-urlencoded') {
  const res = await fetch(`${fx.base}/openid/hostile/backchannel-logout`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await res.text();
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: text ? (JSON.parse(text) as { error: string; error_description: string }) : undefined };
}

const send = async (token: string) => post(new URLSearchParams({ logout_token: token }).toString());
const loggedIn = async (browser: Browser) => ((await (await browser.get(`${fx.base}/me`)).json()) as { login: unknown }).login !== null;

test('a valid logout token ends the session of its sid, answers 200 no-store, and is used once', async () => {
  sid = `op-session-${randomUUID()}`;
  const { browser } = await fx.login();
  sid = `op-session-${randomUUID()}`;
  const { browser: other } = await fx.login();
  assert.ok(await loggedIn(browser));
  const first = await fx.op.sign(claims(), { typ: 'logout+jwt' });
  const res = await send(first);
  assert.equal(res.status, 200);
  assert.equal(res.cacheControl, 'no-store');
  assert.equal(await loggedIn(other), false, 'the session of that sid is logged out');
  assert.equal(await loggedIn(browser), true, 'another provider session of the same user is not');
  const replay = await send(first);
  assert.equal(replay.status, 400);
  assert.match(replay.body!.error_description, /already used/);
});

test('a logout token with only sub ends every session of that user for this provider', async () => {
  sid = `op-session-${randomUUID()}`;
  const { browser: a } = await fx.login();
  sid = `op-session-${randomUUID()}`;
  const { browser: b } = await fx.login();
  const { sid: _none, ...bySub } = claims();
  const res = await send(await fx.op.sign(bySub, { typ: 'JWT' }));
  assert.equal(res.status, 200);
  assert.equal(await loggedIn(a), false);
  assert.equal(await loggedIn(b), false);
});

test('each failed check of §2.6 is 400 invalid_request and ends nothing', async () => {
  sid = `op-session-${randomUUID()}`;
  const { browser } = await fx.login();
  const { events: _e, ...noEvents } = claims();
  const { jti: _j, ...noJti } = claims();
  const { iat: _i, ...noIat } = claims();
  const { sid: _s, sub: _u, ...neither } = claims();
  const cases: Array<[string, Promise<string>]> = [
    ['alg none', fx.op.sign(claims(), { alg: 'none' })],
    ['wrong iss', fx.op.sign(claims({ iss: 'https://evil.example' }))],
    ['wrong aud', fx.op.sign(claims({ aud: 'another-client' }))],
    ['no events', fx.op.sign(noEvents)],
    ['another event', fx.op.sign(claims({ events: { 'http://schemas.openid.net/event/other': {} } }))],
    ['event not an object', fx.op.sign(claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }))],
    ['a nonce', fx.op.sign(claims({ nonce: 'n-0123456789' }))],
    ['no sid and no sub', fx.op.sign(neither)],
    ['no jti', fx.op.sign(noJti)],
    ['no iat', fx.op.sign(noIat)],
    ['stale iat', fx.op.sign(claims({ iat: now() - 3600 }))],
    ['iat in the future', fx.op.sign(claims({ iat: now() + 3600 }))],
    ['expired', fx.op.sign(claims({ exp: now() - 600 }))],
    ['an ID token typ', fx.op.sign(claims(), { typ: 'id_token+jwt' })],
    ['a bad signature', fx.op.sign(claims()).then((t) => `${t.slice(0, -6)}AAAAAA`)],
    ['not a JWT', Promise.resolve('not-a-jwt')],
  ];
  for (const [what, token] of cases) {
    const res = await send(await token);
    assert.equal(res.status, 400, what);
    assert.equal(res.body?.error, 'invalid_request', what);
  }
  assert.equal((await post('')).status, 400, 'no logout_token');
  assert.equal((await post('logout_token=a&logout_token=b')).status, 400, 'a repeated logout_token');
  assert.equal((await post(JSON.stringify({ logout_token: 'x' }), 'application/json')).status, 415, 'not a form');
  assert.equal((await fetch(`${fx.base}/openid/hostile/backchannel-logout`)).status, 405, 'a GET');
  assert.equal(await loggedIn(browser), true, 'nothing was ended');
});
