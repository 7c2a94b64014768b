/**
 * A login's whole life on three app instances (separate processes sharing one Redis, behind no
 * sticky load balancer): logged in on one, used on another, refreshed on the third; ended from the
 * provider (back-channel logout) or by the app (`endSessions`) on one, and gone on all.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/jwt/logout-token.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { loginOn, spawnInstance, type Instance } from '../support/instance.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const COOKIE = 'koa-session-openid';
const redis = newRedis();
const prefix = uniquePrefix('three');
let op: HostileProvider;
let one: Instance;
let two: Instance;
let three: Instance;

before(async () => {
  op = await startHostileProvider({ clientId: 'hostile-client' });
  const options = { redisUrl: redisUrl(), prefix, discoveryUrl: op.discoveryUrl };
  [one, two, three] = await Promise.all([spawnInstance(options), spawnInstance(options), spawnInstance(options)]);
});
after(async () => {
  await Promise.all([one, two, three].map((i) => i?.close()));
  await op.close();
  await redis.quit();
});
let n = 0;
beforeEach(() => {
  op.subject = `user-${++n}-${Date.now()}`;
  op.onToken(undefined);
});

/** Logs in on `instance` with the provider session `sid`; returns the session cookie's value. */
async function login(instance: Instance, sid: string): Promise<string> {
  op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
  try {
    return await loginOn(instance);
  } finally {
    op.onToken(undefined);
  }
}

async function call(instance: Instance, path: string, cookie?: string) {
  const res = await fetch(instance.base + path, { headers: { accept: 'application/json', ...(cookie ? { cookie: `${COOKIE}=${cookie}` } : {}) } });
  return { status: res.status, body: (await res.json()) as any };
}

test('logged in on one, used on two, refreshed on three; a back-channel logout delivered to one ends it on all three', async () => {
  const sid = `op-${op.subject}`;
  const cookie = await login(one, sid);
  const used = await call(two, '/guarded', cookie);
  assert.equal(used.status, 200);
  const refreshed = await call(three, '/refresh', cookie);
  assert.equal(refreshed.status, 200);
  assert.notEqual(refreshed.body.accessToken, used.body.accessToken);
  assert.equal((await call(one, '/guarded', cookie)).body.accessToken, refreshed.body.accessToken, 'instance one uses the refreshed token');

  const now = Math.floor(Date.now() / 1000);
  const token = await op.sign({ iss: op.issuer, aud: 'hostile-client', iat: now, exp: now + 120, jti: `jti-${sid}`, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid }, { typ: 'logout+jwt' });
  const res = await fetch(`${one.base}/openid/hostile/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: token }) });
  assert.equal(res.status, 200);
  for (const instance of [one, two, three]) {
    const after = await call(instance, '/guarded', cookie);
    assert.equal(after.status, 401, 'logged out everywhere');
    assert.equal(after.body.error, 'login_required');
  }
  assert.equal(await redis.exists(prefix + cookie.slice(1, 23)), 0, 'the session held nothing else: it ended');
});

test('sessionsOf lists a user\'s sessions from any instance; endSessions({ sub }) on one ends them on all', async () => {
  const a = await login(one, `a-${op.subject}`);
  const b = await login(two, `b-${op.subject}`);
  const listed = await call(three, `/sessions?sub=${encodeURIComponent(op.subject)}`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.length, 2);
  assert.deepEqual(listed.body.map((s: { sid: string }) => s.sid).sort(), [`a-${op.subject}`, `b-${op.subject}`]);
  for (const s of listed.body) {
    assert.match(s.id, /^[\w-]{32}$/);
    assert.ok(![a, b].some((cookie) => cookie.includes(s.id)), 'the id is no part of a session id');
    assert.ok(Math.abs(s.loggedInAt - Date.now() / 1000) < 30 && s.lastUsedAt >= s.loggedInAt);
  }
  const ended = await call(two, `/end-sessions?sub=${encodeURIComponent(op.subject)}`);
  assert.deepEqual(ended.body, { ended: 2 });
  for (const cookie of [a, b]) for (const instance of [one, two, three]) assert.equal((await call(instance, '/guarded', cookie)).status, 401);
  assert.deepEqual((await call(one, `/sessions?sub=${encodeURIComponent(op.subject)}`)).body, []);
});

test('endSessions({ sid }) ends that provider session only', async () => {
  const a = await login(one, `a-${op.subject}`);
  const b = await login(two, `b-${op.subject}`);
  assert.deepEqual((await call(three, `/end-sessions?sid=a-${op.subject}`)).body, { ended: 1 });
  assert.equal((await call(two, '/guarded', a)).status, 401);
  assert.equal((await call(one, '/guarded', b)).status, 200);
});
