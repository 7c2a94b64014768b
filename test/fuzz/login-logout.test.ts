/**
 * Property-based tests (fast-check) of the login and logout routes' query strings and headers:
 * /openid/<name>/login (returnTo and parameters it must ignore), /logout, /logged-out, and the
 * front-channel logout's iss and sid; oversized, repeated, NUL, broken percent-encoding, unicode.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import {
  CLIENT_ID,
  COOKIE,
  checkAnswer,
  fuzzParams,
  fuzzTimeout,
  header,
  hostileString,
  paramsArb,
  providerRedirect,
  rawGet,
  rawRequest,
  refusedByNode,
  renderParams,
  setCookie,
  startFuzzApp,
  whoIs,
  type FuzzApp,
  type Encoding,
  type FuzzUser,
} from './harness.js';

let fx: FuzzApp;
let victim: FuzzUser;
before(async () => {
  fx = await startFuzzApp();
  victim = await fx.login('victim-alice');
});
after(() => fx.close());

/** Values aimed at the open redirect of returnTo (RFC 9700 §4.11), next to hostile strings in general. */
const OPEN_REDIRECTS = [
  '//evil.example', '/\\evil.example', '\\\\evil.example', '/%2F/evil.example', '/%5Cevil.example', '/%2f%2fevil.example',
  'https://evil.example', 'http:evil.example', 'http:/evil.example', '/\t/evil.example', '/\n/evil.example', '/ /evil.example',
  '/.//evil.example', '/..//evil.example', '/%09/evil.example', '/%E3%80%82evil.example', '//evil.example%2F@127.0.0.1',
  'javascript:alert(1)', 'data:text/html,x', '/%0d%0aSet-Cookie:x=y', '/\u3002evil.example', '/\uFF0F\uFF0Fevil.example',
  '/@evil.example', '/ok?x=1#frag', '/deep/path/', '/?returnTo=//evil.example',
];
const returnToArb = fc.oneof(hostileString(), fc.constantFrom(...OPEN_REDIRECTS), fc.webPath(), fc.webUrl(), fc.tuple(fc.constantFrom(...OPEN_REDIRECTS), hostileString(8)).map(([a, b]) => a + b));

/** The parameters the authorization request may carry: the library's own, none taken from the login route's query. */
const AUTHORIZATION_PARAMS = ['client_id', 'code_challenge', 'code_challenge_method', 'nonce', 'redirect_uri', 'response_type', 'scope', 'state'];
const LOGIN_KEYS = ['returnTo', 'prompt', 'scope', 'redirect_uri', 'state', 'login_hint', 'max_age', 'response_type', 'client_id', 'nonce', 'code_challenge', 'response_mode', 'iss', 'access_token'];

const pathArb = (path: string) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(path) }, { weight: 1, arbitrary: fc.constantFrom(`${path}/`, path.toUpperCase(), `${path}%00`, `/${path}`, `${path}/..`, `${path};x`) });
const garbageCookie = fc.oneof(hostileString(), fc.constant(`${COOKIE}=a${'A'.repeat(44)}`), fc.constant(`${COOKIE}=`));

test('login route: any query leaves the authorization request to the library and returnTo on the app', { timeout: fuzzTimeout(120) }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        method: fc.constantFrom('GET', 'GET', 'HEAD'),
        path: pathArb('/openid/hostile/login'),
        // Mostly one returnTo aimed at an open redirect, among parameters the route must ignore.
        returnTo: fc.oneof({ weight: 4, arbitrary: returnToArb }, { weight: 1, arbitrary: fc.constant(null) }),
        encoding: fc.constantFrom<Encoding>('encoded', 'encoded', 'plus', 'raw', 'broken'),
        params: paramsArb(LOGIN_KEYS, fc.oneof(returnToArb, hostileString()), 4),
        cookie: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: garbageCookie }, { weight: 1, arbitrary: fc.constant('victim') }),
        complete: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      }),
      async ({ method, path, returnTo, encoding, params, cookie, complete }) => {
        const query = renderParams(returnTo === null ? params : [{ key: 'returnTo', value: returnTo, encoding, at: 0.5, escape: '%', times: 1 }, ...params]);
        const cookieHeader = cookie === 'victim' ? victim.cookieHeader : cookie;
        const res = await rawRequest(fx.port, { method, target: query ? `${path}?${query}` : path, headers: cookieHeader === undefined ? [] : [['Cookie', cookieHeader]] });
        checkAnswer(fx, res);
        const location = header(res, 'location');
        if (res.status === 302 && location?.startsWith(fx.providerEndpoints[0]!)) {
          const authorization = new URL(location);
          assert.deepEqual([...new Set(authorization.searchParams.keys())].sort(), AUTHORIZATION_PARAMS, 'only the library sets authorization parameters');
          assert.equal(authorization.searchParams.get('redirect_uri'), `${fx.base}/openid/hostile/auth`);
          assert.equal(authorization.searchParams.get('client_id'), CLIENT_ID);
          assert.equal(authorization.searchParams.get('scope'), 'openid offline_access');
          assert.equal(authorization.searchParams.get('response_type'), 'code');
          const session = setCookie(res, COOKIE);
          if (complete && cookie !== 'victim' && session) {
            // The whole login: wherever returnTo pointed, the callback lands on the app's origin.
            fx.op.subject = 'fuzz-login';
            const back = await providerRedirect(location);
            const callback = await rawGet(fx.port, new URL(back.action).pathname + new URL(back.action).search, [['Cookie', `${COOKIE}=${session}`]]);
            checkAnswer(fx, callback);
            assert.equal(callback.status, 302, callback.text);
            const landed = new URL(header(callback, 'location')!, fx.base);
            assert.equal(landed.origin, fx.base);
            assert.ok(!landed.pathname.startsWith('//'), landed.href);
          }
        }
        await fx.healthy();
      },
    ),
    fuzzParams(120),
  );
  assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub, "starting logins in the victim's session kept its login");
});

const SITE = ['same-origin', 'none', 'cross-site', 'same-site', '', ' same-origin ', 'SAME-ORIGIN', 'same-origin, cross-site', 'none\0'];
const purposeArb = fc.constantFrom('prefetch', 'prefetch;prerender', 'PREFETCH', 'prerender', '');

test('logout route: only a same-origin request that is no prefetch logs out; the redirect goes to the end-session endpoint', { timeout: fuzzTimeout(60) }, async () => {
  const origins = [fx.base, `${fx.base}/`, fx.base.toUpperCase(), 'http://evil.example', 'null', '', `${fx.base}.evil.example`, 'http://127.0.0.1'];
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        method: fc.constantFrom('GET', 'POST'),
        params: paramsArb(['returnTo', 'state', 'id_token_hint', 'post_logout_redirect_uri', 'client_id'], hostileString()),
        site: fc.option(fc.oneof(fc.constantFrom(...SITE), hostileString(12))),
        origin: fc.option(fc.oneof(fc.constantFrom(...origins), hostileString(20))),
        purpose: fc.option(fc.tuple(fc.constantFrom('Sec-Purpose', 'Purpose'), purposeArb)),
        withLogin: fc.boolean(),
      }),
      async ({ method, params, site, origin, purpose, withLogin }) => {
        const user = withLogin ? await fx.login('fuzz-logout') : undefined;
        const hdrs: Array<[string, string]> = [];
        if (user) hdrs.push(['Cookie', user.cookieHeader]);
        if (site !== null) hdrs.push(['Sec-Fetch-Site', site]);
        if (origin !== null) hdrs.push(['Origin', origin]);
        if (purpose !== null) hdrs.push(purpose);
        const query = renderParams(params);
        const res = await rawRequest(fx.port, { method, target: `/openid/hostile/logout${query ? `?${query}` : ''}`, headers: hdrs });
        checkAnswer(fx, res, { idTokenHint: user?.idToken });
        if (res.status === 302) {
          // Node trims header values; an empty one counts as absent.
          const s = site?.trim() ?? '';
          const trusted = s ? s === 'same-origin' || s === 'none' : origin?.trim() === fx.base;
          assert.ok(trusted, `logged out by a request that is not same-origin (Sec-Fetch-Site ${JSON.stringify(site)}, Origin ${JSON.stringify(origin)})`);
          assert.ok(!(purpose && /prefetch/i.test(purpose[1])), 'logged out by a prefetch');
          const endSession = new URL(header(res, 'location')!);
          assert.equal(endSession.origin + endSession.pathname, fx.providerEndpoints[1]);
          assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${fx.base}/openid/hostile/logged-out`);
          assert.equal(endSession.searchParams.get('client_id'), CLIENT_ID);
          if (user) assert.equal(await whoIs(fx, user.cookieHeader), null, 'the login ended');
        } else {
          assert.ok(res.status === 200 || refusedByNode(res), res.text);
          if (user) assert.equal(await whoIs(fx, user.cookieHeader), user.sub, 'a refused logout leaves the login');
        }
        await fx.healthy();
      },
    ),
    fuzzParams(60),
  );
});

test("logged-out route: only this session's own logout state redirects; anything else is a page", { timeout: fuzzTimeout(60) }, async () => {
  const stateArb = fc.oneof(hostileString(), fc.constantFrom('$state', '$state', '$stateX', '$STATE', '$state$state'));
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        params: paramsArb(['state', 'state', 'iss', 'sid', 'error'], stateArb),
        cookie: fc.constantFrom('own', 'own', 'none', 'victim', 'garbage'),
      }),
      async ({ params, cookie }) => {
        const usesState = params.some((p) => p.value.includes('$state') || p.value.includes('$STATE'));
        let state = 'unused-state-value-000000';
        let own: FuzzUser | undefined;
        if (usesState || cookie === 'own') {
          own = await fx.login('fuzz-logged-out');
          const out = await rawRequest(fx.port, { target: '/openid/hostile/logout', headers: [['Cookie', own.cookieHeader], ['Sec-Fetch-Site', 'same-origin']] });
          assert.equal(out.status, 302, out.text);
          state = new URL(header(out, 'location')!).searchParams.get('state')!;
          own.cookie = setCookie(out, COOKIE) ?? own.cookie;
        }
        const subst = (v: string) => v.replaceAll('$stateX', `${state}X`).replaceAll('$STATE', state.toUpperCase()).replaceAll('$state', state);
        const query = renderParams(params, subst);
        const hdrs: Array<[string, string]> = [];
        if (cookie === 'own' && own) hdrs.push(['Cookie', `${COOKIE}=${own.cookie}`]);
        if (cookie === 'victim') hdrs.push(['Cookie', victim.cookieHeader]);
        if (cookie === 'garbage') hdrs.push(['Cookie', `${COOKIE}=${state}`]);
        const res = await rawGet(fx.port, `/openid/hostile/logged-out${query ? `?${query}` : ''}`, hdrs);
        checkAnswer(fx, res);
        if (res.status === 302) {
          assert.equal(header(res, 'location'), '/');
          assert.equal(cookie, 'own', "a redirect only in the session that sent the logout");
          assert.deepEqual(new URLSearchParams(query).getAll('state'), [state], 'a redirect only for its own state, once');
        } else {
          assert.ok(res.status === 200 || refusedByNode(res), res.text);
        }
        await fx.healthy();
      },
    ),
    fuzzParams(60),
  );
  assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub);
});

test('front-channel logout: garbage iss and sid end nothing; only 200 or 400', { timeout: fuzzTimeout(120) }, async () => {
  // The victim's sid and sub, changed: none of them may end its login.
  const near = fc.constantFrom('$victimSid ', ' $victimSid', '$victimSidx', '$VICTIMSID', '$victimSid\0', '$victimSid,$victimSid', 'victim-alice', '*', '$victimSid%');
  const valueArb = fc.oneof(hostileString(), fc.constantFrom('$iss', '$iss', '$sid', '$sid', '$iss/'), near);
  await fc.assert(
    fc.asyncProperty(fc.record({ params: paramsArb(['iss', 'sid', 'iss', 'sid'], valueArb), frame: fc.boolean() }), async ({ params, frame }) => {
      const other = params.some((p) => p.value.includes('$sid')) ? await fx.login('fuzz-frontchannel') : undefined;
      const subst = (v: string) =>
        v
          .replaceAll('$victimSid', victim.sid)
          .replaceAll('$VICTIMSID', victim.sid.toUpperCase())
          .replaceAll('$sid', other?.sid ?? 'no-sid')
          .replaceAll('$iss', fx.op.issuer);
      const query = renderParams(params, subst);
      const res = await rawGet(fx.port, `/openid/hostile/frontchannel-logout${query ? `?${query}` : ''}`, frame ? [['Sec-Fetch-Dest', 'iframe'], ['Sec-Fetch-Site', 'cross-site']] : []);
      checkAnswer(fx, res);
      assert.ok([200, 400].includes(res.status) || refusedByNode(res), `${res.status}: ${res.text}`);
      if (res.status === 200) {
        const sent = new URLSearchParams(query);
        assert.deepEqual(sent.getAll('iss'), [fx.op.issuer], 'a front-channel logout is accepted with its issuer only');
        assert.equal(sent.getAll('sid').length, 1);
      }
      assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub, "the victim's login stays");
      await fx.healthy();
    }),
    fuzzParams(120),
  );
});
