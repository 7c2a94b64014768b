/**
 * The write rules of the sessions, across two app instances sharing one Redis: a request that
 * read the session before a refresh does not write the old tokens back, a refresh that started
 * before a logout does not bring the login back, and two concurrent refreshes make one grant.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHostileProvider, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { spawnInstance, startInstance, type Instance } from '../support/instance.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';

const COOKIE = 'koa-session-openid';
let op: HostileProvider;
let one: Instance;
let two: Instance;
/** In another process: refresh grants of this process are not shared with it. */
let other: Instance;

before(async () => {
  op = await startHostileProvider({ clientId: 'hostile-client' });
  const options = { redisUrl: redisUrl(), prefix: uniquePrefix('two'), discoveryUrl: op.discoveryUrl };
  [one, two, other] = await Promise.all([startInstance(options), startInstance(options), spawnInstance(options)]);
});
after(async () => {
  await Promise.all([one, two, other].map((i) => i?.close()));
  await op.close();
});

/** Logs in on instance one; returns the session cookie, which both instances accept. */
async function loginCookie(): Promise<string> {
  const browser = new Browser();
  const { response } = await browser.follow(`${one.base}/openid/hostile/login`, { headers: { accept: 'application/json' } });
  await response.arrayBuffer();
  const value = browser.cookies(one.base)[COOKIE];
  assert.ok(value, 'logged in');
  return `${COOKIE}=${value}`;
}

const call = async (instance: Instance, path: string, cookie: string, method = 'GET') => {
  const res = await fetch(instance.base + path, { method, redirect: 'manual', headers: { cookie, accept: 'application/json' } });
  const next = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))?.split(';')[0];
  return { status: res.status, body: (await res.json()) as Record<string, any>, cookie: next ?? cookie };
};

/** A gate the hostile provider's token endpoint waits on. */
function gate(): { opened: Promise<void>; release(): void } {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  return { opened, release };
}

test('a request that read the session before a refresh (on another instance) does not write the old tokens back', async () => {
  const cookie = await loginCookie();
  const before = (await call(one, '/me', cookie)).body.login.tokens.accessToken as string;
  const { reached, release } = one.hold();
  const stale = call(one, '/hold', cookie);
  await reached;
  const refreshed = await call(two, '/refresh', cookie, 'POST');
  assert.equal(refreshed.status, 200);
  assert.notEqual(refreshed.body.accessToken, before);
  release();
  const done = await stale;
  assert.equal(done.body.seenAccessToken, before, 'the stale request had read the old token');
  const after = await call(one, '/me', done.cookie);
  assert.equal(after.body.login.tokens.accessToken, refreshed.body.accessToken, 'the refreshed tokens stay');
  assert.equal(after.body.note, 'written after the wait', 'and the stale request\'s own change is stored');
});

test('a refresh that started before a logout (on another instance) does not bring the login back', async () => {
  const cookie = await loginCookie();
  const { opened, release } = gate();
  let reached!: () => void;
  const atProvider = new Promise<void>((resolve) => (reached = resolve));
  op.onToken(async (ctx) => {
    reached();
    await opened;
    return op.tokenAnswer(ctx);
  });
  try {
    const refreshing = call(one, '/refresh', cookie, 'POST');
    await atProvider;
    assert.deepEqual((await call(two, '/logout', cookie, 'POST')).body, { removed: true });
    release();
    const refreshed = await refreshing;
    assert.equal(refreshed.status, 401);
    assert.equal(refreshed.body.error, 'login_required');
    assert.equal((await call(one, '/me', cookie)).body.login, null, 'the logout stands');
    assert.equal((await call(two, '/me', cookie)).body.login, null);
  } finally {
    op.onToken(undefined);
  }
});

test('two concurrent refreshes in two processes: one grant, the other request waits for it and uses its tokens', async () => {
  const cookie = await loginCookie();
  const { opened, release } = gate();
  let count = 0;
  let first!: () => void;
  const firstArrived = new Promise<void>((resolve) => (first = resolve));
  op.onToken(async (ctx) => {
    if (++count === 1) first();
    await opened;
    return op.tokenAnswer(ctx);
  });
  try {
    const answers = Promise.all([call(one, '/refresh', cookie, 'POST'), call(other, '/refresh', cookie, 'POST')]);
    await firstArrived;
    // The other request is in flight too, waiting for the refresh lock while the grant is held up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    const [a, b] = await answers;
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(count, 1, 'one grant');
    assert.equal(a.body.accessToken, b.body.accessToken, 'both requests use the stored tokens');
    assert.equal((await call(one, '/me', cookie)).body.login.tokens.accessToken, a.body.accessToken);
  } finally {
    op.onToken(undefined);
  }
});

test('a back-channel logout delivered to one instance ends the session on the others, also in another process', async () => {
  const { BACKCHANNEL_LOGOUT_EVENT } = await import('../../src/jwt/logout-token.js');
  const { validIdTokenClaims } = await import('../support/hostile-provider.js');
  const sid = `op-session-${Date.now()}`;
  op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
  try {
    const cookie = await loginCookie();
    assert.notEqual((await call(other, '/me', cookie)).body.login, null);
    const now = Math.floor(Date.now() / 1000);
    const token = await op.sign({ iss: op.issuer, aud: 'hostile-client', iat: now, exp: now + 120, jti: `jti-${sid}`, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid }, { typ: 'logout+jwt' });
    const res = await fetch(`${two.base}/openid/hostile/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
    assert.equal(res.status, 200);
    assert.equal((await call(one, '/me', cookie)).body.login, null);
    assert.equal((await call(other, '/me', cookie)).body.login, null);
  } finally {
    op.onToken(undefined);
  }
});
