/**
 * The provider failing at each step where the app talks to it: discovery (the login route, a
 * bearer check, a back-channel logout), the token request and the JWKS at the callback, a refresh,
 * userinfo, the JWKS for a back-channel logout token, and the JWKS for bearer checks. Each endpoint
 * sits behind a fault server of the test's own (test/support/fault-server.ts) that refuses
 * connections (nothing listening, or a port closed after it worked), resets them, accepts and never
 * answers, answers bytes that are not HTTP, JSON that is not JSON, an HTML 502 page, or stalls or
 * drips the body. For every fault and every step:
 * - the answer is the documented one (README "Errors"): `503 discovery_failed`; `502`/`504`
 *   `provider_unavailable` (`token_request_failed` 502 for a token endpoint that answered 5xx);
 * - it comes within `timeout` (1 s here) plus a margin, and at once when the fault is visible at
 *   once (a refused or reset connection, garbage): no request waits for a timeout it does not need;
 * - the app closed the connection that carried the request (the fault server's busy connections
 *   drop to 0): no leaked socket, also when the endpoint never answers; and in the end no
 *   connection at all is left open to a failing endpoint;
 * - once the endpoint works again the same step succeeds, without a restart.
 * Bearer checks keep working from the cached keys while the JWKS endpoint is down, also when the
 * cached key set is due for a refresh (the refresh fails in the background).
 *
 * One rig per fault mode (a hostile provider, fault servers in front of its token, userinfo and
 * JWKS endpoints, and a discovery URL that is nothing but the fault), all in one app: the modes run
 * side by side, so the whole file costs a few timeouts, not one per case.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Router from '@koa/router';
import Koa from 'koa';
import { isOpenIDError, OpenID, redisSession } from '../../src/index.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/jwt/logout-token.js';
import { FAULT_MODES, HANGING_MODES, startFaultServer, type FaultMode, type FaultServer } from '../support/fault-server.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { serve } from '../support/serve.js';

/** The provider `timeout` of every OpenID here (seconds). */
const TIMEOUT_S = 1;
/** How much later than the timeout a hanging fault may be answered (ms): the timer, then rendering. */
const MARGIN_MS = 500;
/** A fault the app can see at once (refused, reset, garbage) is answered within this (ms). */
const AT_ONCE_MS = 300;
const COOLDOWN_S = 0.3;
const CLIENT_ID = 'faulty-client';
const CLIENT_SECRET = 'faulty-secret-value-0123456789abcdef';

const now = () => Math.floor(Date.now() / 1000);
const json = { accept: 'application/json' };

interface Rig {
  mode: Exclude<FaultMode, 'pass'>;
  op: HostileProvider;
  token: FaultServer;
  userinfo: FaultServer;
  jwks: FaultServer;
  /** The discovery URL of provider `d-<mode>`: always failing. */
  discovery: FaultServer;
  /** Logged in (with a refresh token) at provider `<mode>`. */
  user: Browser;
  /** The `sid` of the logins at provider `k-<mode>`. */
  sid: string;
}

/** 504 is documented for a provider that timed out; the answers of hanging faults, checked in a todo test. */
const timeouts: Array<{ what: string; mode: string; status: number }> = [];

interface Reply {
  status: number;
  error: string | undefined;
  ms: number;
  text: string;
}

async function timed(request: () => Promise<Response>): Promise<Reply> {
  const started = performance.now();
  const res = await request();
  const text = await res.text();
  const ms = performance.now() - started;
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: res.status, error, ms, text };
}

/** Figures for the report: step → mode → "status error ms". */
const figures = new Map<string, Map<string, string>>();
function record(step: string, mode: string, reply: Reply): void {
  if (!figures.has(step)) figures.set(step, new Map());
  figures.get(step)!.set(mode, `${reply.status} ${reply.error ?? '-'} ${reply.ms.toFixed(0)} ms`);
}

/** The answer came in time: at once for a fault visible at once, else within the timeout plus the margin. */
function assertInTime(rig: Rig, reply: Reply, what: string): void {
  const limit = HANGING_MODES.has(rig.mode) ? TIMEOUT_S * 1000 + MARGIN_MS : AT_ONCE_MS;
  assert.ok(reply.ms <= limit, `${what} (${rig.mode}): answered in ${reply.ms.toFixed(0)} ms, more than ${limit} ms`);
  if (HANGING_MODES.has(rig.mode)) {
    assert.ok(reply.ms >= TIMEOUT_S * 1000 - 50, `${what} (${rig.mode}): answered in ${reply.ms.toFixed(0)} ms, before the timeout: what did it answer?`);
  }
}

/**
 * 502/504 `provider_unavailable`, or 502 `token_request_failed` where a token endpoint answered 5xx.
 * A provider that timed out is documented as 504: so it is for one that never answered (`silent`)
 * at the token and userinfo endpoints; a body that stalled after the headers, and any JWKS timeout,
 * answer 502 today (collected for the todo test at the end, reported).
 */
function assertProviderFailed(rig: Rig, reply: Reply, what: string, { tokenEndpoint = false, jwks = false } = {}): void {
  const context = `${what} (${rig.mode}): ${reply.status} ${reply.text.slice(0, 200)}`;
  if (HANGING_MODES.has(rig.mode)) {
    assert.equal(reply.error, 'provider_unavailable', context);
    if (rig.mode === 'silent' && !jwks) assert.equal(reply.status, 504, context);
    else assert.ok(reply.status === 504 || reply.status === 502, context);
    timeouts.push({ what, mode: rig.mode, status: reply.status });
    return;
  }
  assert.equal(reply.status, 502, context);
  const allowed = tokenEndpoint && rig.mode === 'html' ? ['token_request_failed', 'provider_unavailable'] : ['provider_unavailable'];
  assert.ok(allowed.includes(reply.error ?? ''), context);
}

describe('the provider failing at every step', { timeout: 60_000 }, () => {
  const rigs: Rig[] = [];
  let base: string;
  let close: () => Promise<void>;
  let sessions: ReturnType<typeof redisSession>;

  /** Runs `step` for every rig side by side; all of them finish (their endpoints working again) before it fails, naming each failed rig. */
  async function eachRig(step: (rig: Rig) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(
      rigs.map(async (rig) => {
        try {
          await step(rig);
        } finally {
          await Promise.all([rig.token.set('pass'), rig.userinfo.set('pass'), rig.jwks.set('pass')]);
        }
      }),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${rigs[i]!.mode}: ${(r.reason as Error)?.message ?? String(r.reason)}`] : []));
    if (failed.length) assert.fail(failed.join('\n'));
  }

  before(async () => {
    const app = new Koa();
    app.silent = true;
    sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('faults') });
    app.use(sessions);
    const router = new Router();
    const answering = (openid: OpenID, handler: (ctx: Koa.Context) => Promise<void>) => async (ctx: Koa.Context) => {
      try {
        await handler(ctx);
      } catch (err) {
        if (!isOpenIDError(err)) throw err;
        await openid.renderError(ctx, err);
      }
    };
    for (const mode of FAULT_MODES) {
      const op = await startHostileProvider({ clientId: CLIENT_ID, alg: 'ES256' });
      const target = { port: Number(new URL(op.issuer).port) };
      const [token, userinfo, jwks, discovery] = await Promise.all([
        startFaultServer({ target }),
        startFaultServer({ target }),
        startFaultServer({ target }),
        startFaultServer({ mode }),
      ]);
      op.discovery.token_endpoint = `${token.origin}/token`;
      op.discovery.userinfo_endpoint = `${userinfo.origin}/userinfo`;
      op.discovery.jwks_uri = `${jwks.origin}/jwks`;
      const common = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, allowInsecureRequests: true, timeout: TIMEOUT_S, jwksCooldown: COOLDOWN_S };
      const openid = new OpenID(app, { ...common, name: mode, configuration: op.discoveryUrl, scopes: ['openid', 'offline_access'] });
      const undiscovered = new OpenID(app, { ...common, name: `d-${mode}`, configuration: `${discovery.origin}/.well-known/openid-configuration` });
      router.get(`/d-${mode}/api`, undiscovered.bearer(), (ctx) => void (ctx.body = { sub: ctx.state.user!.sub }));
      // Logins whose ID tokens meet the JWKS fault at the callback, and back-channel logouts: a key
      // set of its own that nothing fetched before.
      const keyed = new OpenID(app, { ...common, name: `k-${mode}`, configuration: op.discoveryUrl });
      router.get(`/k-${mode}/me`, keyed.required({ redirect: false }), (ctx) => void (ctx.body = { sub: ctx.state.user!.sub }));
      // Bearer checks with their own key set (not warmed by the back-channel logout's), due for a
      // background refresh half a second after each fetch.
      const bearer = new OpenID(app, { ...common, name: `b-${mode}`, configuration: op.discoveryUrl, routes: false, jwksMaxAge: 0.5 });
      router.get(`/${mode}/me`, openid.required({ redirect: false }), (ctx) => void (ctx.body = { sub: ctx.state.user!.sub }));
      router.get(`/${mode}/refresh`, answering(openid, async (ctx) => {
        const login = await openid.refresh(ctx);
        ctx.body = { expiresAt: login.expiresAt };
      }));
      router.get(`/${mode}/userinfo`, answering(openid, async (ctx) => void (ctx.body = await openid.userInfo(ctx))));
      router.get(`/${mode}/api`, bearer.bearer(), (ctx) => void (ctx.body = { sub: ctx.state.user!.sub }));
      rigs.push({ mode, op, token, userinfo, jwks, discovery, user: new Browser(), sid: `sid-${randomUUID()}` });
    }
    app.use(router.routes());
    const served = await serve(app);
    base = served.base;
    close = served.close;
    // Everyone logs in while every endpoint works.
    await eachRig(async (rig) => {
      const { response } = await rig.user.follow(`${base}/openid/${rig.mode}/login?returnTo=/${rig.mode}/me`, { headers: json });
      assert.deepEqual(await response.json(), { sub: 'alice' }, `login at ${rig.mode}`);
    });
  });

  after(async () => {
    await close?.();
    await sessions?.close();
    await Promise.all(rigs.flatMap((r) => [r.op.close(), r.token.close(), r.userinfo.close(), r.jwks.close(), r.discovery.close()]));
    const lines = [...figures].map(([step, byMode]) => `  ${step}:\n${[...byMode].map(([mode, f]) => `    ${mode.padEnd(11)} ${f}`).join('\n')}`);
    console.log(`provider faults (timeout ${TIMEOUT_S} s):\n${lines.join('\n')}`);
  });

  test('discovery: the login route answers 503 discovery_failed within the timeout; bearer checks and back-channel logout too', async () => {
    await eachRig(async (rig) => {
      const login = await timed(() => fetch(`${base}/openid/d-${rig.mode}/login`, { headers: json, redirect: 'manual' }));
      record('discovery (login route)', rig.mode, login);
      assert.equal(login.status, 503, `${rig.mode}: ${login.text}`);
      assert.equal(login.error, 'discovery_failed', rig.mode);
      assertInTime(rig, login, 'login route');
      await rig.discovery.drained(MARGIN_MS);
      // The failure is remembered for jwksCooldown: the next requests fail at once, without asking.
      const asked = rig.discovery.requests;
      const logout = await timed(() => fetch(`${base}/openid/d-${rig.mode}/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: 'x.y.z' }) }));
      assert.equal(logout.status, 503, `back-channel logout: ${logout.text}`);
      assert.equal(logout.error, 'discovery_failed');
      assert.ok(logout.ms < AT_ONCE_MS, `remembered failure answered in ${logout.ms.toFixed(0)} ms`);
      assert.equal(rig.discovery.requests, asked, 'not asked again within the cooldown');
      // After the cooldown the next request asks again, and fails the same way in the same time.
      await sleep(COOLDOWN_S * 1000);
      const bearer = await timed(() => fetch(`${base}/d-${rig.mode}/api`, { headers: { authorization: 'Bearer a.b.c' } }));
      record('discovery (bearer check)', rig.mode, bearer);
      assert.equal(bearer.status, 503, `bearer: ${bearer.text}`);
      assert.equal(bearer.error, 'discovery_failed');
      assertInTime(rig, bearer, 'bearer check');
      await rig.discovery.drained(MARGIN_MS);
      if (rig.mode !== 'refuse' && rig.mode !== 'reset') assert.ok(rig.discovery.requests > asked, 'asked again after the cooldown');
    });
  });

  test('the token request at the callback: 502/504 within the timeout, the socket closed, the next login works', async () => {
    await eachRig(async (rig) => {
      const browser = new Browser();
      const { stoppedAt } = await browser.follow(`${base}/openid/${rig.mode}/login`, { stopAt: (u) => u.pathname === `/openid/${rig.mode}/auth` });
      assert.ok(stoppedAt, 'at the callback');
      await rig.token.set(rig.mode);
      const reply = await timed(() => browser.get(stoppedAt.href, { headers: json }));
      record('token request (callback)', rig.mode, reply);
      assertProviderFailed(rig, reply, 'callback', { tokenEndpoint: true });
      assertInTime(rig, reply, 'callback');
      await rig.token.drained(MARGIN_MS);
      await rig.token.set('pass');
      const { response } = await new Browser().follow(`${base}/openid/${rig.mode}/login?returnTo=/${rig.mode}/me`, { headers: json });
      assert.equal(response.status, 200, `a login after the fault (${rig.mode})`);
      await response.arrayBuffer();
    });
  });

  test('a refresh: 502/504 within the timeout, the socket closed, the login stays, the next refresh works', async () => {
    await eachRig(async (rig) => {
      await rig.token.set(rig.mode);
      const reply = await timed(() => rig.user.get(`${base}/${rig.mode}/refresh`, { headers: json }));
      record('refresh', rig.mode, reply);
      assertProviderFailed(rig, reply, 'refresh', { tokenEndpoint: true });
      assertInTime(rig, reply, 'refresh');
      await rig.token.drained(MARGIN_MS);
      const still = await timed(() => rig.user.get(`${base}/${rig.mode}/me`, { headers: json }));
      assert.equal(still.status, 200, `the login stays (${rig.mode}): ${still.text}`);
      await rig.token.set('pass');
      const refreshed = await timed(() => rig.user.get(`${base}/${rig.mode}/refresh`, { headers: json }));
      assert.equal(refreshed.status, 200, `the next refresh (${rig.mode}): ${refreshed.text}`);
    });
  });

  test('userinfo: 502/504 within the timeout, the socket closed, the next call works', async () => {
    await eachRig(async (rig) => {
      await rig.userinfo.set(rig.mode);
      const reply = await timed(() => rig.user.get(`${base}/${rig.mode}/userinfo`, { headers: json }));
      record('userinfo', rig.mode, reply);
      assertProviderFailed(rig, reply, 'userinfo');
      assertInTime(rig, reply, 'userinfo');
      await rig.userinfo.drained(MARGIN_MS);
      await rig.userinfo.set('pass');
      const ok = await timed(() => rig.user.get(`${base}/${rig.mode}/userinfo`, { headers: json }));
      assert.equal(ok.status, 200, `userinfo after the fault (${rig.mode}): ${ok.text}`);
    });
  });

  const logoutToken = (rig: Rig) =>
    rig.op.sign(
      { iss: rig.op.issuer, aud: CLIENT_ID, iat: now(), exp: now() + 120, jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid: rig.sid, sub: 'alice' },
      { typ: 'logout+jwt' },
    );
  const backchannel = async (rig: Rig) => {
    const body = new URLSearchParams({ logout_token: await logoutToken(rig) });
    return timed(() => fetch(`${base}/openid/k-${rig.mode}/backchannel-logout`, { method: 'POST', body }));
  };

  test("the provider's JWKS failing before any key was fetched, at the callback and for a back-channel logout: 502/504 within the timeout; once fetched, the keys serve a logout during the next outage", async () => {
    await eachRig(async (rig) => {
      rig.op.onToken((ctx) => rig.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid: rig.sid }));
      try {
        await rig.jwks.set(rig.mode);
        const browser = new Browser();
        const { stoppedAt } = await browser.follow(`${base}/openid/k-${rig.mode}/login`, { stopAt: (u) => u.pathname === `/openid/k-${rig.mode}/auth` });
        assert.ok(stoppedAt, 'at the callback');
        const callback = await timed(() => browser.get(stoppedAt.href, { headers: json }));
        record('JWKS at the callback', rig.mode, callback);
        assertProviderFailed(rig, callback, 'callback (JWKS)', { jwks: true });
        assertInTime(rig, callback, 'callback (JWKS)');
        await rig.jwks.drained(MARGIN_MS);

        await sleep(COOLDOWN_S * 1000); // a failed first fetch is retried once per jwksCooldown
        const logout = await backchannel(rig);
        record('JWKS for a back-channel logout', rig.mode, logout);
        assertProviderFailed(rig, logout, 'back-channel logout', { jwks: true });
        assertInTime(rig, logout, 'back-channel logout');
        await rig.jwks.drained(MARGIN_MS);

        await rig.jwks.set('pass');
        await sleep(COOLDOWN_S * 1000);
        const { response } = await browser.follow(`${base}/openid/k-${rig.mode}/login?returnTo=/k-${rig.mode}/me`, { headers: json });
        assert.deepEqual(await response.json(), { sub: 'alice' }, `a login once the JWKS works (${rig.mode})`);

        await rig.jwks.set(rig.mode);
        const cached = await backchannel(rig);
        record('back-channel logout, JWKS down, keys cached', rig.mode, cached);
        assert.equal(cached.status, 200, `the logout from the cached keys (${rig.mode}): ${cached.text}`);
        assert.ok(cached.ms < AT_ONCE_MS, `answered in ${cached.ms.toFixed(0)} ms`);
        assert.equal((await browser.get(`${base}/k-${rig.mode}/me`, { headers: json })).status, 401, 'the logout ended the login');
      } finally {
        rig.op.onToken(undefined);
      }
    });
  });

  /** A new access token (a JWT no bearer check has cached yet), signed with the provider's key. */
  const accessToken = (rig: Rig) =>
    rig.op.sign(
      { iss: rig.op.issuer, aud: CLIENT_ID, sub: 'alice', client_id: CLIENT_ID, scope: 'read', iat: now(), exp: now() + 300, jti: randomBytes(9).toString('base64url') },
      { typ: 'at+jwt' },
    );
  const api = async (rig: Rig) => {
    const authorization = `Bearer ${await accessToken(rig)}`;
    return timed(() => fetch(`${base}/${rig.mode}/api`, { headers: { authorization } }));
  };

  test('bearer checks: the first JWKS fetch failing is 502/504 within the timeout; then keys cached before the outage keep working, at once', async () => {
    await eachRig(async (rig) => {
      await rig.jwks.set(rig.mode);
      const first = await api(rig);
      record('bearer, first JWKS fetch', rig.mode, first);
      assertProviderFailed(rig, first, 'bearer', { jwks: true });
      assertInTime(rig, first, 'bearer');
      await rig.jwks.drained(MARGIN_MS);

      await rig.jwks.set('pass');
      await sleep(COOLDOWN_S * 1000);
      assert.equal((await api(rig)).status, 200, `keys fetched once the JWKS works (${rig.mode})`);

      // The JWKS goes down; new tokens (none cached by the bearer check) verify with the cached keys.
      await rig.jwks.set(rig.mode);
      const cached = await api(rig);
      record('bearer, JWKS down, keys cached', rig.mode, cached);
      assert.equal(cached.status, 200, `${rig.mode}: ${cached.text}`);
      assert.ok(cached.ms < AT_ONCE_MS, `answered in ${cached.ms.toFixed(0)} ms`);
      // Past jwksMaxAge (0.5 s) the key set is refreshed in the background: that fetch meets the
      // fault, the request does not wait for it, and the keys stay.
      await sleep(600);
      const asked = rig.jwks.requests;
      const stale = await api(rig);
      record('bearer, JWKS down, keys due for refresh', rig.mode, stale);
      assert.equal(stale.status, 200, `${rig.mode}: ${stale.text}`);
      assert.ok(stale.ms < AT_ONCE_MS, `answered in ${stale.ms.toFixed(0)} ms while the background refresh meets the fault`);
      if (rig.mode !== 'refuse' && rig.mode !== 'reset') {
        const end = Date.now() + 1000;
        while (rig.jwks.requests === asked && Date.now() < end) await sleep(10);
        assert.ok(rig.jwks.requests > asked, 'the background refresh did reach the faulty JWKS endpoint');
      }
      await rig.jwks.drained(TIMEOUT_S * 1000 + MARGIN_MS);
      const after = await api(rig);
      assert.equal(after.status, 200, `still verified from the kept keys after the failed refresh (${rig.mode})`);
      await rig.jwks.set('pass');
    });
  });

  test('in the end no connection is left open to a failing endpoint (idle ones close with fetch\'s keep-alive timeout)', async () => {
    // The discovery fault servers were last asked at the start of this file; nothing switched them since.
    await Promise.all(rigs.map((rig) => rig.discovery.drained(6000, { idle: true })));
  });

  test('a provider that timed out answers 504 (README "Errors"), also when it sent headers and then stalled', () => {
    assert.ok(timeouts.length > 0, 'hanging faults were met');
    const not504 = timeouts.filter((t) => t.status !== 504).map((t) => `${t.what} (${t.mode})`);
    assert.ok(not504.length === 0, `answered 502 instead: ${not504.join(', ')}`);
  });
});
