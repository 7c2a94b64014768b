/**
 * Automatic refresh in the guards, across three app instances (separate processes sharing one
 * Redis, as behind a load balancer): a token that is due is refreshed once per login across all
 * of them, even with rotating refresh tokens; a refused refresh ends the login; a provider that is
 * down costs that request a 502/504 and keeps the login.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { loginOn, spawnInstance, type Instance } from '../support/instance.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const COOKIE = 'koa-session-openid';
const redis = newRedis();
const prefix = uniquePrefix('refresh');
let op: HostileProvider;
let instances: Instance[];

before(async () => {
  op = await startHostileProvider({ clientId: 'hostile-client' });
  const options = { redisUrl: redisUrl(), prefix, discoveryUrl: op.discoveryUrl, openid: { timeout: 2 } };
  instances = await Promise.all([spawnInstance(options), spawnInstance(options), spawnInstance(options)]);
});
after(async () => {
  await Promise.all(instances.map((i) => i.close()));
  await op.close();
  await redis.quit();
});
beforeEach(() => {
  op.onToken(undefined);
  op.down = false;
  op.rotateRefreshTokens = false;
});

const login = () => loginOn(instances[0]!);

/** Makes the stored access token expire `inSeconds` from now (negative: expired). */
async function expireIn(cookie: string, inSeconds: number): Promise<void> {
  const key = prefix + cookie.slice(1, 23);
  const hot = JSON.parse((await redis.hget(key, 'l:hostile'))!) as Record<string, unknown>;
  await redis.hset(key, 'l:hostile', JSON.stringify({ ...hot, e: Math.floor(Date.now() / 1000) + inSeconds }));
}

const storedAccessToken = async (cookie: string) =>
  (JSON.parse((await redis.hget(prefix + cookie.slice(1, 23), 't:hostile')) ?? '{}') as { at?: string }).at;

async function get(instance: Instance, path: string, cookie: string, accept = 'application/json') {
  const res = await fetch(instance.base + path, { redirect: 'manual', headers: { cookie: `${COOKIE}=${cookie}`, accept } });
  const text = await res.text();
  const body: Record<string, any> = text.startsWith('{') ? JSON.parse(text) : { text };
  return { status: res.status, location: res.headers.get('location'), body };
}

const refreshGrants = () => op.tokenRequests.filter((r) => r.body.get('grant_type') === 'refresh_token').length;

/** A token endpoint that answers after `ms`: concurrent requests are surely in flight together. */
const slowTokens = (ms: number) =>
  op.onToken(async (ctx) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return op.tokenAnswer(ctx);
  });

test('a token that is not due is used as it is: no refresh', async () => {
  const cookie = await login();
  const before = await storedAccessToken(cookie);
  const grants = refreshGrants();
  const res = await get(instances[1]!, '/guarded', cookie);
  assert.equal(res.status, 200);
  assert.equal(res.body.accessToken, before);
  assert.equal(refreshGrants(), grants);
});

test('20 concurrent requests on 3 instances with a rotating, expiring token: one refresh grant, all 20 succeed with its token', async () => {
  const cookie = await login();
  op.rotateRefreshTokens = true;
  await expireIn(cookie, 30); // within the default refreshSkew (60 s)
  const grants = refreshGrants();
  slowTokens(300);
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(instances[i % 3]!, '/guarded', cookie)));
  assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
  assert.equal(refreshGrants() - grants, 1, 'exactly one refresh grant reached the provider');
  const fresh = await storedAccessToken(cookie);
  assert.deepEqual(new Set(answers.map((a) => a.body.accessToken)), new Set([fresh]), 'every request used the new token');
  // The login lives on: a reuse of the spent refresh token would have ended it at this provider.
  op.onToken(undefined);
  await expireIn(cookie, -1);
  const again = await get(instances[2]!, '/guarded', cookie);
  assert.equal(again.status, 200);
  assert.notEqual(again.body.accessToken, fresh, 'refreshed again with the rotated refresh token');
  assert.equal(refreshGrants() - grants, 2);
});

test('a refused refresh (invalid_grant) ends the login: a browser is sent to log in, an API call gets 401 login_required', async () => {
  const cookie = await login();
  await expireIn(cookie, -1);
  op.onToken((ctx) => (ctx.grantType === 'refresh_token' ? { status: 400, json: { error: 'invalid_grant', error_description: 'Session not active' } } : op.tokenAnswer(ctx)));
  const api = await get(instances[1]!, '/guarded', cookie);
  assert.equal(api.status, 401);
  assert.equal(api.body.error, 'login_required');
  assert.equal(await redis.hget(prefix + cookie.slice(1, 23), 'l:hostile'), null, 'the login is gone');
  const page = await get(instances[2]!, '/guarded', cookie, 'text/html');
  assert.equal(page.status, 302);
  assert.match(page.location!, /^\/openid\/hostile\/login\?returnTo=%2Fguarded$/);
});

test('the provider down during a refresh of an expired token: 502/504 for that request, the login stays, the next request refreshes', async () => {
  const cookie = await login();
  await expireIn(cookie, -1);
  op.down = true;
  const failed = await get(instances[0]!, '/guarded', cookie);
  assert.ok(failed.status === 502 || failed.status === 504, `status ${failed.status}`);
  assert.equal(failed.body.error, 'provider_unavailable');
  assert.doesNotMatch(JSON.stringify(failed.body), /eyJ|hostile-secret/, 'no token or secret in the answer');
  op.outage = 'hang';
  const hung = await get(instances[1]!, '/guarded', cookie);
  assert.equal(hung.status, 504, 'a provider that does not answer: 504 after the timeout (2 s here)');
  op.outage = 'destroy';
  op.down = false;
  const before = await storedAccessToken(cookie);
  const next = await get(instances[2]!, '/guarded', cookie);
  assert.equal(next.status, 200, 'the login stayed, and the next request refreshed it');
  assert.notEqual(next.body.accessToken, before);
});

test('a token refreshed early (still valid) while the provider is down is used meanwhile', async () => {
  const cookie = await login();
  const before = await storedAccessToken(cookie);
  await expireIn(cookie, 30);
  op.down = true;
  const res = await get(instances[0]!, '/guarded', cookie);
  assert.equal(res.status, 200);
  assert.equal(res.body.accessToken, before);
});

test('a refreshed ID token must keep sub and auth_time: another one is refused, and the login keeps its tokens', async () => {
  for (const change of [{ sub: 'mallory' }, { auth_time: Math.floor(Date.now() / 1000) - 5 }]) {
    const cookie = await login();
    const before = await storedAccessToken(cookie);
    await expireIn(cookie, -1);
    op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), ...(ctx.grantType === 'refresh_token' ? change : {}) }));
    const res = await get(instances[0]!, '/guarded', cookie);
    assert.equal(res.body.error, 'invalid_id_token', JSON.stringify(change));
    assert.equal(await storedAccessToken(cookie), before, 'nothing stored');
    op.onToken(undefined);
  }
});


test('a refresh refused with a bare 400 (no JSON error body, as Glewlwyd answers a spent token) ends the login too', async () => {
  const cookie = await login();
  await expireIn(cookie, -1);
  op.onToken((ctx) => (ctx.grantType === 'refresh_token' ? { status: 400, text: '' } : op.tokenAnswer(ctx)));
  const api = await get(instances[0]!, '/guarded', cookie);
  assert.equal(api.status, 401);
  assert.equal(api.body.error, 'login_required');
});

test('a 4xx that is no verdict on the refresh token (429 slow_down, 400 invalid_request) keeps the login', async () => {
  for (const [status, error] of [[429, 'slow_down'], [400, 'invalid_request']] as const) {
    const cookie = await login();
    await expireIn(cookie, -1);
    op.onToken((ctx) => (ctx.grantType === 'refresh_token' ? { status, json: { error } } : op.tokenAnswer(ctx)));
    const res = await get(instances[0]!, '/guarded', cookie);
    assert.notEqual(res.status, 200, `${status} ${error}`);
    assert.notEqual(res.body.error, 'login_required', `${status} ${error}: not a logout`);
    assert.notEqual(await redis.hget(prefix + cookie.slice(1, 23), 'l:hostile'), null, `${status} ${error}: the login stays`);
    op.onToken(undefined);
    assert.equal((await get(instances[1]!, '/guarded', cookie)).status, 200, 'the next request refreshes');
  }
});
