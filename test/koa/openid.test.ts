import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Koa from 'koa';
import Router from '@koa/router';
import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { login, startFixture, type Fixture } from '../support/fixture.js';
import type { Browser } from '../support/http-client.js';

function sessionCookie(browser: Browser, base: string): string | undefined {
  const jar = browser.cookies(base);
  const name = Object.keys(jar).find((n) => !n.endsWith('.sig'));
  return name ? jar[name] : undefined;
}

describe('OpenID with two providers', () => {
  let fx: Fixture;

  before(async () => {
    fx = await startFixture([{ name: 'alpha' }, { name: 'beta' }], (app, { alpha, beta }) => {
      const router = new Router();
      router.get('/private', alpha!.required(), (ctx) => {
        ctx.body = { sub: ctx.state.user?.sub, openid: ctx.state.openid };
      });
      router.get('/api', alpha!.required({ redirect: false }), (ctx) => {
        ctx.body = { ok: true };
      });
      router.get('/more', (ctx) => alpha!.login(ctx, { scopes: ['email'], returnTo: '/me' }));
      router.get('/ui', alpha!.required(), async (ctx) => {
        try {
          ctx.body = await alpha!.userInfo(ctx);
        } catch (err) {
          if (!isOpenIDError(err)) throw err;
          await alpha!.renderError(ctx, err);
        }
      });
      router.get('/impersonate', async (ctx) => {
        // Simulates a session whose user differs from the access token's owner.
        const key = fx.sessionKey(ctx.cookies.get('koa-session-openid')!);
        const hot = JSON.parse((await fx.redis.hget(key, 'l:alpha'))!);
        await fx.redis.hset(key, 'l:alpha', JSON.stringify({ ...hot, c: { ...hot.c, sub: 'mallory' } }));
        ctx.body = 'ok';
      });
      router.post('/logout/:name', async (ctx) => {
        const provider = ctx.params.name === 'alpha' ? alpha! : beta!;
        ctx.body = { removed: await provider.logout(ctx) };
      });
      app.use(router.routes());
      app.use(alpha!.optional());
      app.use(async (ctx) => {
        ctx.body = {
          path: ctx.path,
          search: ctx.search,
          alpha: (await alpha!.session(ctx))?.claims.sub ?? null,
          beta: (await beta!.session(ctx))?.claims.sub ?? null,
          alphaScopes: (await alpha!.session(ctx))?.scopes ?? null,
          user: ctx.state.user?.sub ?? null,
        };
      });
    });
  });
  after(() => fx.close());

  test('logs in with both providers in one session, tokens stay on the server', async () => {
    const b = fx.browser();
    const first = await login(b, fx, 'alpha', '/me');
    assert.equal(first.status, 200);
    assert.equal(new URL(first.url).pathname, '/me');
    assert.deepEqual(JSON.parse(first.body), { path: '/me', search: '', alpha: 'alice', beta: null, alphaScopes: ['openid', 'profile'], user: 'alice' });

    fx.ops.beta!.setAccount('bob');
    const second = await login(b, fx, 'beta', '/me');
    assert.deepEqual(JSON.parse(second.body), { path: '/me', search: '', alpha: 'alice', beta: 'bob', alphaScopes: ['openid', 'profile'], user: 'alice' });

    // The browser holds an opaque id; the tokens are in Redis only, apart from the claims.
    const jar = b.cookies(fx.base);
    assert.deepEqual(Object.keys(jar).length, 1);
    const id = sessionCookie(b, fx.base)!;
    assert.match(id, /^a[\w-]{44}$/, 'the cookie is an id, not data');
    const stored = await fx.stored(id);
    assert.equal(typeof JSON.parse(stored['t:alpha']!).at, 'string');
    assert.equal(typeof JSON.parse(stored['t:beta']!).it, 'string');
    assert.equal(JSON.parse(stored['l:beta']!).c.sub, 'bob');
    assert.ok(!stored['l:alpha']!.includes(JSON.parse(stored['t:alpha']!).at), 'the hot record holds no token');
    fx.ops.beta!.setAccount('alice');
  });

  test('progressive consent adds scopes; the union is recorded', async () => {
    const b = fx.browser();
    await login(b, fx, 'alpha');
    const { response } = await b.follow(`${fx.base}/more`);
    const body = await response.json();
    assert.equal(body.alpha, 'alice');
    assert.deepEqual([...body.alphaScopes].sort(), ['email', 'openid', 'profile']);
    const info = await (await b.get(`${fx.base}/ui`)).json();
    assert.equal(info.sub, 'alice');
    assert.equal(info.email, 'alice@example.test', 'the email scope was granted');
  });

  test('required() redirects browsers, answers 401 JSON otherwise; optional() continues', async () => {
    const b = fx.browser();
    const html = await b.get(`${fx.base}/private?x=1`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(html.status, 302);
    assert.equal(html.headers.get('location'), '/openid/alpha/login?returnTo=%2Fprivate%3Fx%3D1');

    const json = await b.get(`${fx.base}/private`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 401);
    assert.equal((await json.json()).error, 'login_required');

    const noRedirect = await b.get(`${fx.base}/api`, { headers: { accept: 'text/html' } });
    assert.equal(noRedirect.status, 401);

    const open = await b.get(`${fx.base}/anything`);
    assert.equal((await open.json()).user, null);

    // After logging in through the redirect, the browser lands where it wanted to go.
    const { response } = await b.follow(`${fx.base}/private?x=1`, { headers: { accept: 'text/html' } });
    const body = await response.json();
    assert.equal(body.sub, 'alice');
    assert.deepEqual(Object.keys(body.openid).sort(), ['claims', 'expiresAt', 'provider', 'scopes', 'token']);
    assert.equal((await b.get(`${fx.base}/api`)).status, 200);
  });

  test('the session id changes when a login completes; the old one stops working', async () => {
    const b = fx.browser();
    await b.get(`${fx.base}/openid/alpha/login`);
    const before = sessionCookie(b, fx.base);
    assert.ok(before, 'starting a login created a session');
    assert.ok((await fx.sessionKeys()).includes(fx.sessionKey(before)));
    await login(b, fx, 'alpha');
    const afterLogin = sessionCookie(b, fx.base);
    assert.ok(afterLogin && afterLogin !== before);
    const me = await fetch(`${fx.base}/me`, { headers: { cookie: `koa-session-openid=${afterLogin}` } });
    assert.equal((await me.json()).alpha, 'alice');
    const planted = await fetch(`${fx.base}/me`, { headers: { cookie: `koa-session-openid=${before}` } });
    assert.equal((await planted.json()).alpha, null, 'the id from before the login (a planted one) is anonymous');
  });

  test('returnTo keeps same-origin paths and drops anything else', async () => {
    const b = fx.browser();
    const ok = await login(b, fx, 'alpha', '/x/y?z=1');
    assert.equal(new URL(ok.url).pathname + new URL(ok.url).search, '/x/y?z=1');
    for (const evil of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      const res = await login(fx.browser(), fx, 'alpha', evil);
      assert.equal(new URL(res.url).origin, fx.base);
      assert.equal(new URL(res.url).pathname, '/');
    }
  });

  test('two logins started in two tabs: the first to finish wins, the other gets an "already logged in" page', async () => {
    const b = fx.browser();
    const one = await b.get(`${fx.base}/openid/alpha/login?returnTo=/one`);
    const two = await b.get(`${fx.base}/openid/alpha/login?returnTo=/two`);
    assert.equal(one.status, 302);
    assert.equal(two.status, 302);
    const secondDone = await b.follow(two.headers.get('location')!);
    assert.equal((await secondDone.response.json()).path, '/two');
    // The first tab's login was dropped when the second completed: its callback is no error, and no login.
    const { response, urls } = await b.follow(one.headers.get('location')!, { headers: { accept: 'text/html' } });
    assert.equal(response.status, 200);
    assert.match(urls.at(-1)!, /\/openid\/alpha\/auth\?/);
    const page = await response.text();
    assert.match(page, /already logged in/);
    assert.match(page, /you are logged in as alice/);
    assert.match(page, /href="\/openid\/alpha\/login">Not you\? Log in again/);
    assert.match(page, /href="\/one"/);
    assert.equal((await (await b.get(`${fx.base}/me`)).json()).alpha, 'alice');
  });

  test('a reloaded callback of a completed login redirects to its returnTo; elsewhere a replay, a missing state and another provider\'s state fail with 400', async () => {
    const b = fx.browser();
    const { urls } = await b.follow(`${fx.base}/openid/alpha/login?returnTo=/landing`);
    const callback = urls.find((u) => u.includes('/openid/alpha/auth?'))!;
    const reload = await b.get(callback);
    assert.equal(reload.status, 302);
    assert.equal(reload.headers.get('location'), '/landing');

    const replay = await fx.browser().get(callback);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error, 'invalid_state');

    const missing = await b.get(`${fx.base}/openid/alpha/auth?code=abc`);
    assert.equal(missing.status, 400);
    assert.equal((await missing.json()).error, 'invalid_state');

    const start = await b.get(`${fx.base}/openid/beta/login`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const crossed = await b.get(`${fx.base}/openid/alpha/auth?code=abc&state=${state}`);
    assert.equal(crossed.status, 400);
    assert.match((await crossed.json()).error_description, /another provider/);
  });

  test('bad callback input answers 4xx with a stable code, never a 500, never a token', async () => {
    const b = fx.browser();
    const stateOf = async () => new URL((await b.get(`${fx.base}/openid/alpha/login`)).headers.get('location')!).searchParams.get('state')!;
    // Each case gets a fresh login (at most 5 may be pending per provider: older ones are dropped).
    const iss = encodeURIComponent(fx.ops.alpha!.issuer);
    const cases: Array<[(state: string) => string, number, string]> = [
      [(st) => `error=access_denied&error_description=<script>x</script>&state=${st}&iss=${iss}`, 400, 'provider_error'],
      [(st) => `error=access_denied&state=${st}`, 400, 'issuer_mismatch'],
      [(st) => `state=${st}&iss=${iss}`, 400, 'invalid_request'],
      [(st) => `code=a&code=b&state=${st}`, 400, 'invalid_request'],
      [(st) => `code=${'x'.repeat(5000)}&state=${st}`, 400, 'invalid_request'],
      [(st) => `code=not-a-real-code&state=${st}`, 400, 'issuer_mismatch'],
      [(st) => `code=not-a-real-code&state=${st}&iss=${iss}`, 400, 'token_request_failed'],
      [() => `code=x&state=%00%ff%fe`, 400, 'invalid_state'],
      [() => `code=x&state[]=1`, 400, 'invalid_state'],
    ];
    for (const [query, status, code] of cases) {
      const url = `${fx.base}/openid/alpha/auth?${query(await stateOf())}`;
      const res = await b.get(url, { headers: { accept: 'application/json' } });
      const body = await res.json();
      assert.equal(res.status, status, url);
      assert.equal(body.error, code, url);
      assert.doesNotMatch(JSON.stringify(body), /<script>|secret-value/);
    }
    const denied = await b.get(`${fx.base}/openid/alpha/auth?error=access_denied&state=${await stateOf()}&iss=${iss}`, { headers: { accept: 'application/json' } });
    assert.equal((await denied.json()).provider_error, 'access_denied');
    const page = await b.get(`${fx.base}/openid/alpha/auth?error=x`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 400);
    assert.match(page.headers.get('content-type')!, /html/);
    const tooBig = await b.get(`${fx.base}/openid/alpha/auth?${'a=1&'.repeat(2500)}`);
    assert.equal(tooBig.status, 414);
  });

  test('userInfo checks the sub against the logged-in user', async () => {
    const b = fx.browser();
    await login(b, fx, 'alpha');
    assert.equal((await b.get(`${fx.base}/ui`)).status, 200);
    await b.get(`${fx.base}/impersonate`);
    const res = await b.get(`${fx.base}/ui`);
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error, 'userinfo_failed');
  });

  test('logout of one provider keeps the other', async () => {
    const b = fx.browser();
    await login(b, fx, 'alpha');
    await login(b, fx, 'beta');
    const out = await b.post(`${fx.base}/logout/alpha`, {});
    assert.deepEqual(await out.json(), { removed: true });
    const me = await (await b.get(`${fx.base}/me`)).json();
    assert.equal(me.alpha, null);
    assert.equal(me.beta, 'alice');
  });

  test('no discovery or JWKS fetch per request; an unchanged session is not rewritten', async () => {
    const b = fx.browser();
    await login(b, fx, 'alpha');
    const seen: string[] = [];
    fx.ops.alpha!.provider.use(async (ctx, next) => {
      seen.push(ctx.path);
      await next();
    });
    const writes = async () => (await Promise.all(['set', 'hset', 'evalsha', 'eval'].map((c) => commandCount(fx, c)))).reduce((a, b) => a + b);
    const writesBefore = await writes();
    for (let i = 0; i < 10; i++) assert.equal((await b.get(`${fx.base}/private`)).status, 200);
    assert.deepEqual(seen, []);
    assert.equal(await writes(), writesBefore);
  });

  test('a session that only exists for a pending login lives no longer than the login may take', async () => {
    const b = fx.browser();
    await b.get(`${fx.base}/openid/alpha/login`);
    const key = fx.sessionKey(sessionCookie(b, fx.base)!);
    const pending = await fx.redis.pttl(key);
    assert.ok(pending > 0 && pending <= 610_000, `pttl ${pending}`);
    await login(b, fx, 'alpha');
    assert.ok((await fx.redis.pttl(key)) > 23 * 3600 * 1000, 'the configured lifetime is back after the login');
  });

  test('a malformed Host header is a 400, not a 500', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${fx.base}/openid/alpha/login`, { headers: { host: 'a:b:c' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 400);
  });
});

async function commandCount(fx: Fixture, command: string): Promise<number> {
  const info = await fx.redis.info('commandstats');
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

describe('setup', () => {
  test('a Koa app without session middleware is refused at setup (routes need a session); routes: false needs none', async () => {
    const opts = { name: 'x', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' };
    assert.throws(() => new OpenID(new Koa(), opts), { name: 'TypeError', message: /no session middleware yet: app\.use\(redisSession/ });
    assert.doesNotThrow(() => new OpenID(new Koa(), { ...opts, routes: false }));
    const app = new Koa();
    app.keys = ['k'];
    const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('setup') });
    app.use(sessions);
    assert.doesNotThrow(() => new OpenID(app, opts));
    await sessions.close();
  });

  test('two providers with the same name or routes are a TypeError', () => {
    const app = new Router();
    const opts = { clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' };
    new OpenID(app, { ...opts, name: 'one' });
    assert.throws(() => new OpenID(app, { ...opts, name: 'one' }), TypeError);
    assert.throws(() => new OpenID(app, { ...opts, name: 'two', routeAuth: '/openid/one/auth' }), /already used/);
    // Another app is independent.
    new OpenID(new Router(), { ...opts, name: 'one' });
  });

  test('a cookie-only session is refused: tokens never go into a cookie', async () => {
    const { default: session } = await import('koa-session');
    const app = new Koa();
    app.keys = ['k'];
    app.use(session(app));
    new OpenID(app, { name: 'c', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' });
    const errors: Error[] = [];
    app.on('error', (err: Error) => errors.push(err));
    app.silent = true;
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/openid/c/login`);
      assert.equal(res.status, 500);
      assert.match(errors[0]!.message, /server-side session/);
    } finally {
      server.close();
    }
  });

  test('unknown options are refused; routes: false registers no route', () => {
    assert.throws(() => new OpenID(new Router(), { name: 'x', clientId: 'c', configuration: 'https://op.example/', clientSecrett: 's' } as never), /unknown option "clientSecrett"/);
    const router = new Router();
    new OpenID(router, { name: 'api', clientId: 'c', configuration: 'https://op.example/', routes: false });
    assert.equal(router.stack.length, 0);
  });

  test('JSON.stringify and util.inspect of a provider or its options never show the client secret', async () => {
    const { inspect } = await import('node:util');
    const secret = 'a-very-secret-client-secret-0123456789';
    const provider = new OpenID(new Router(), { name: 'leak', clientId: 'c', clientSecret: secret, configuration: 'https://op.example/' });
    for (const shown of [JSON.stringify(provider), JSON.stringify({ provider }), JSON.stringify(provider.options), inspect(provider, { depth: 5 }), inspect(provider.options)]) {
      assert.doesNotMatch(shown, new RegExp(secret));
      assert.match(shown, /\[redacted\]/);
    }
    assert.equal(provider.options.clientSecret, secret, 'the option itself is intact');
    // Loggers that walk an object's own keys (pino, winston, bunyan), spreads and clones skip it.
    const walked: string[] = [];
    for (const key in provider.options) walked.push(String((provider.options as unknown as Record<string, unknown>)[key]));
    for (const copy of [walked, { ...provider.options }, Object.entries(provider.options), structuredClone({ ...provider.options, handleError: undefined, handleUserLogin: undefined })]) {
      assert.doesNotMatch(JSON.stringify(copy), new RegExp(secret));
    }
  });

  test('a @koa/router Router is accepted in place of the app', () => {
    const router = new Router();
    new OpenID(router, { name: 'r', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' });
    const paths = router.stack.map((layer) => `${layer.methods.join(',')} ${layer.path}`);
    assert.ok(paths.includes('HEAD,GET /openid/r/login'), paths.join('; '));
    assert.ok(paths.some((p) => p.startsWith('POST') && p.endsWith('/openid/r/auth')));
  });
});

describe('routes on a Koa app', () => {
  test('exact paths and methods: GET/HEAD login, GET/POST callback; anything else passes to the next middleware', async () => {
    const app = new Koa();
    app.keys = ['k'];
    app.silent = true;
    const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('routes') });
    app.use(sessions);
    new OpenID(app, { name: 'r', clientId: 'c', configuration: 'http://127.0.0.1:9/.well-known/openid-configuration', allowInsecureRequests: true, timeout: 1 });
    app.use((ctx) => (ctx.body = 'app'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const call = async (method: string, path: string) => {
        const res = await fetch(`${base}${path}`, { method, redirect: 'manual', headers: { accept: 'application/json' } });
        return { status: res.status, body: method === 'HEAD' ? '' : await res.text() };
      };
      // The provider is unreachable: the library's routes answer 503 discovery_failed, the app 'app'.
      assert.equal((await call('GET', '/openid/r/login')).status, 503);
      assert.equal((await call('HEAD', '/openid/r/login')).status, 503);
      assert.equal((await call('GET', '/openid/r/auth?state=' + 's'.repeat(20))).status, 400);
      assert.equal((await call('POST', '/openid/r/auth')).status, 405);
      for (const [method, path] of [['POST', '/openid/r/login'], ['PUT', '/openid/r/auth'], ['GET', '/openid/r/loginx'], ['GET', '/openid/r'], ['GET', '/']]) {
        assert.deepEqual(await call(method!, path!), { status: 200, body: 'app' }, `${method} ${path}`);
      }
    } finally {
      server.close();
      await sessions.close();
    }
  });
});

describe('endSessions() and sessionsOf(): setup errors', () => {
  const options = { name: 'x', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' };

  test('without the built-in sessions they are a TypeError that says what to install', async () => {
    const api = new OpenID(new Koa(), { ...options, routes: false });
    assert.throws(() => api.endSessions({ sub: 'alice' }), /needs the built-in sessions: app\.use\(redisSession/);
    assert.throws(() => api.sessionsOf('alice'), /needs the built-in sessions/);
    // On a Router, the app is known only once a request reached the provider.
    const onRouter = new OpenID(new Router(), options);
    assert.throws(() => onRouter.sessionsOf('alice'), /on a Router, the app is known once a request/);
  });

  test('a key that is neither { sub } nor { sid } with a non-empty string is a TypeError', async () => {
    const app = new Koa();
    const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('end-sessions') });
    app.use(sessions);
    try {
      const provider = new OpenID(app, options);
      for (const bad of [{}, { sub: '' }, { sid: 42 }, null, 'alice']) {
        assert.throws(() => provider.endSessions(bad as never), /pass \{ sub \} or \{ sid \}/, JSON.stringify(bad));
      }
      assert.throws(() => provider.sessionsOf(''), /non-empty string/);
      assert.equal(await provider.endSessions({ sub: 'nobody' }), 0);
      assert.deepEqual(await provider.sessionsOf('nobody'), []);
    } finally {
      await sessions.close();
    }
  });
});
