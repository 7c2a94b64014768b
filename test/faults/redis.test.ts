/**
 * Redis going away, with redis-servers of the test's own (the shared one of the test run is never
 * touched): killed, stopped, stalled (SIGSTOP) and brought back, with its data lost or kept, while
 * logged-in users make requests. README "When Redis is down or stalled":
 * - a request that needs the session answers 503 session_unavailable within `storeTimeout`
 *   (asserted: at most `storeTimeout` + 500 ms), one Koa error event per outage;
 * - pages that do not use the session keep answering at once, for visitors and logged-in users
 *   (when the session holds app data: after one failed read, as ctx.session is synchronous);
 * - the app recovers without a restart: the time from Redis answering again to each user's first
 *   good answer is measured (and bounded);
 * - no login is lost when the data survived, none comes back when it was lost, and a login in
 *   flight ends with the 503, never half stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { OpenID, OpenIDError, redisSession, type RedisSessionOptions } from '../../src/index.js';
import { startHostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { startOwnRedis, type OwnRedis } from '../support/redis.js';
import { serve } from '../support/serve.js';

const json = { accept: 'application/json' };
/** How much later than `storeTimeout` a 503 may come (ms): the deadline timer's tick, then rendering. */
const MARGIN_MS = 500;
/** A page that does not use the session answers within this (ms), Redis or not. */
const AT_ONCE_MS = 200;

/** The app's own client, with ioredis defaults (its connection errors are the app's to log). */
function quietClient(url: string): Redis {
  const client = new Redis(url);
  client.on('error', () => {});
  return client;
}

/** Measured figures, printed at the end of the file for the report. */
const figures: string[] = [];
process.on('exit', () => {
  if (figures.length) console.log(`redis faults:\n${figures.map((f) => `  ${f}`).join('\n')}`);
});

/** A GET: status, error code, body, milliseconds. */
async function timed(browser: Browser, url: string) {
  const started = performance.now();
  const res = await browser.get(url, { headers: json });
  const text = await res.text();
  let body: { error?: string; user?: string | null; sub?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = {};
  }
  return { status: res.status, error: body.error, user: body.user, sub: body.sub, ms: performance.now() - started, started, ended: performance.now() };
}
type Reply = Awaited<ReturnType<typeof timed>>;

async function eventually<T>(what: () => Promise<T>, ok: (value: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (ok(value) || Date.now() > end) return value;
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// App data in ctx.session (no provider): killed and stalled, two kinds of client.

async function startApp(options: RedisSessionOptions) {
  const app = new Koa();
  app.keys = ['faults'];
  const sessions = redisSession(app, options);
  app.use(sessions);
  app.use((ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'alice';
    if (ctx.path === '/public') return void (ctx.body = 'public');
    ctx.body = { user: ctx.session.user ?? null };
  });
  const events: OpenIDError[] = [];
  app.on('error', (err: unknown) => void (err instanceof OpenIDError && events.push(err)));
  const served = await serve(app);
  return { url: (path: string) => served.base + path, events, close: async () => (await served.close(), await sessions.close()) };
}

for (const [kind, makeOptions] of [
  ['a client created from a URL', (r: OwnRedis) => ({ redis: r.url, storeTimeout: 500 })],
  ['a given ioredis client with default settings', (r: OwnRedis) => ({ redis: quietClient(r.url), storeTimeout: 500 })],
] as const) {
  test(`Redis killed, then back (data lost), with ${kind}: 503 within the store timeout, public pages fine, one event, recovery`, { timeout: 30_000 }, async () => {
    const redis = await startOwnRedis();
    const options = makeOptions(redis);
    const t = await startApp(options);
    try {
      const browser = new Browser();
      await browser.get(t.url('/login'));
      assert.equal((await timed(browser, t.url('/me'))).user, 'alice');

      await redis.kill();
      const failures: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await timed(browser, t.url('/me'));
        assert.equal(r.status, 503);
        assert.equal(r.error, 'session_unavailable');
        assert.ok(r.ms <= options.storeTimeout + MARGIN_MS, `answered in ${r.ms.toFixed(0)} ms`);
        failures.push(r.ms);
      }
      const visitor = await timed(new Browser(), t.url('/public'));
      assert.equal(visitor.status, 200, 'a page without a session cookie needs no Redis');
      assert.ok(visitor.ms < AT_ONCE_MS, `at once: ${visitor.ms.toFixed(0)} ms`);
      // The cookie says this session holds app data, which ctx.session (synchronous, as in
      // koa-session) needs loaded before the request runs: the page answers, after that read failed.
      const publicPage = await timed(browser, t.url('/public'));
      assert.equal(publicPage.status, 200, 'a page that does not use ctx.session answers, also for a visitor whose session holds app data');
      assert.ok(publicPage.ms <= options.storeTimeout + MARGIN_MS, `answered in ${publicPage.ms.toFixed(0)} ms`);
      assert.equal(t.events.length, 1, 'one error event for the outage');
      assert.equal(t.events[0]!.code, 'session_unavailable');

      await redis.restart();
      const back = performance.now();
      // Back without a restart of the app; the data was lost with the server, so no login is resurrected.
      const first = await eventually(() => timed(browser, t.url('/me')), (r) => r.status === 200, 5000);
      assert.equal(first.status, 200);
      assert.equal(first.user, null);
      figures.push(
        `killed (data lost), ${kind}, storeTimeout 500: 503s in ${failures.map((ms) => ms.toFixed(0)).join(' / ')} ms; ` +
          `a page without the session: ${visitor.ms.toFixed(0)} ms without a cookie, ${publicPage.ms.toFixed(0)} ms with a session holding app data; ` +
          `recovery ${(first.ended - back).toFixed(0)} ms after Redis answered again`,
      );
    } finally {
      await t.close();
      if (typeof options.redis !== 'string') options.redis.disconnect();
      await redis.close();
    }
  });
}

test('Redis stalled (SIGSTOP), then resumed: 503 within the store timeout, the login is still there afterwards', { timeout: 30_000 }, async () => {
  const redis = await startOwnRedis();
  const client = quietClient(redis.url); // ioredis defaults: no command timeout of its own
  const t = await startApp({ redis: client, storeTimeout: 500 });
  try {
    const browser = new Browser();
    await browser.get(t.url('/login'));
    redis.pause();
    const r = await timed(browser, t.url('/me'));
    assert.equal(r.status, 503);
    assert.ok(r.ms <= 500 + MARGIN_MS, `answered in ${r.ms.toFixed(0)} ms`);
    redis.resume();
    const back = await eventually(() => timed(browser, t.url('/me')), (x) => x.status === 200, 3000);
    assert.equal(back.user, 'alice', 'no login lost when the data survived');
  } finally {
    redis.resume();
    await t.close();
    client.disconnect();
    await redis.close();
  }
});

// ---------------------------------------------------------------------------------------------
// OpenID logins (a hostile provider of the test's own) while Redis fails.

/**
 * An app with one provider and sessions in a Redis of its own: `/me` guarded, `/public` without the
 * session, `/note` stores app data, `/login` shows `provider.session()`.
 */
async function startLoginApp(redis: OwnRedis, sessionOptions: Partial<RedisSessionOptions> = {}) {
  const op = await startHostileProvider({ clientId: 'faulty', alg: 'ES256' });
  const app = new Koa();
  app.silent = true;
  const sessions = redisSession(app, { redis: redis.url, ...sessionOptions });
  app.use(sessions);
  const openid = new OpenID(app, { name: 'op', clientId: 'faulty', clientSecret: 'faulty-secret-0123456789abcdef01', configuration: op.discoveryUrl, allowInsecureRequests: true });
  app.use(async (ctx, next) => {
    if (ctx.path === '/public') return void (ctx.body = { public: true });
    if (ctx.path === '/note') return void (ctx.session.note = 'app data', (ctx.body = { note: true }));
    if (ctx.path === '/login') return void (ctx.body = { login: (await openid.session(ctx))?.claims.sub ?? null });
    return next();
  });
  app.use(openid.required({ redirect: false })).use((ctx) => (ctx.body = { sub: ctx.state.user!.sub }));
  const events: OpenIDError[] = [];
  app.on('error', (err: unknown) => void (err instanceof OpenIDError && events.push(err)));
  const served = await serve(app);
  const url = (path: string) => served.base + path;
  return {
    op,
    url,
    events,
    /** A new browser, logged in. */
    async login(): Promise<Browser> {
      const browser = new Browser();
      const { response } = await browser.follow(url('/openid/op/login?returnTo=/me'), { headers: json });
      assert.deepEqual(await response.json(), { sub: 'alice' });
      return browser;
    },
    async close() {
      await served.close();
      await sessions.close();
      await op.close();
    },
  };
}

test('a login in flight when Redis dies ends with that 503, and no half-stored login appears when it returns', { timeout: 30_000 }, async () => {
  const redis = await startOwnRedis();
  const t = await startLoginApp(redis, { storeTimeout: 500 });
  try {
    const b = new Browser();
    const start = await b.get(t.url('/openid/op/login'));
    const callback = (await b.get(start.headers.get('location')!)).headers.get('location')!;
    await redis.kill();
    const failed = await b.get(callback, { headers: json });
    assert.equal(failed.status, 503);
    assert.equal(((await failed.json()) as { error: string }).error, 'session_unavailable');
    await redis.restart();
    const me = await eventually(() => timed(b, t.url('/me')), (r) => r.status !== 503, 3000);
    assert.equal(me.status, 401, 'no login appeared');
    assert.equal(me.error, 'login_required');
    assert.equal(t.op.tokenRequests.length, 0, 'the code was never exchanged');
  } finally {
    await t.close();
    await redis.close();
  }
});

test('a logged-in user whose session also holds app data, Redis stalled or killed: the guarded page and provider.session() answer 503 within storeTimeout (the page without the session after one failed read)', { timeout: 30_000 }, async () => {
  const redis = await startOwnRedis();
  const storeTimeout = 500;
  const t = await startLoginApp(redis, { storeTimeout });
  try {
    const browser = await t.login();
    assert.equal((await timed(browser, t.url('/note'))).status, 200, 'app data stored next to the login');
    const rows: string[] = [];
    const late: string[] = [];
    for (const [outage, cause, end] of [
      ['stalled', () => redis.pause(), () => redis.resume()],
      ['killed', () => redis.kill(), () => redis.restart()],
    ] as const) {
      await cause();
      for (const path of ['/me', '/login', '/public']) {
        const r = await timed(browser, t.url(path));
        rows.push(`${outage} ${path} ${r.status} ${r.ms.toFixed(0)} ms`);
        assert.equal(r.status, path === '/public' ? 200 : 503, `${outage} ${path}`);
        if (r.ms > storeTimeout + MARGIN_MS) late.push(`${outage} ${path}: ${r.ms.toFixed(0)} ms`);
      }
      await end();
      await eventually(() => timed(browser, t.url('/login')), (r) => r.status !== 503, 3000);
    }
    figures.push(`a session with app data and a login (storeTimeout ${storeTimeout}): ${rows.join('; ')}`);
    // The cookie marks app data, so the middleware reads the session before the request runs (as
    // ctx.session is synchronous); when that read fails, the guard and provider.session() must not
    // wait a second storeTimeout for a read of their own.
    assert.deepEqual(late, [], `answered later than storeTimeout + ${MARGIN_MS} ms`);
  } finally {
    redis.resume();
    await t.close();
    await redis.close();
  }
});

/**
 * Logged-in users (and a visitor) requesting all the time: every user asks for the guarded page in
 * a loop, one user and one visitor without a cookie ask for a page without the session.
 */
class Traffic {
  readonly guarded: Array<Reply & { who: number }> = [];
  readonly open: Reply[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(url: (path: string) => string, users: Browser[]) {
    const loop = async (browser: Browser, path: string, into: (r: Reply) => void) => {
      while (this.#running) {
        into(await timed(browser, url(path)));
        await sleep(20);
      }
    };
    this.#loops = [
      ...users.map((browser, i) => loop(browser, '/me', (r) => this.guarded.push({ ...r, who: i }))),
      loop(users[0]!, '/public', (r) => this.open.push(r)),
      loop(new Browser(), '/public', (r) => this.open.push(r)),
    ];
  }

  /** Until every user got an answer that `done` accepts, having started at or after `since` (at most `ms`). */
  async until(users: number, since: number, done: (r: Reply) => boolean, ms = 6000): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const recovered = new Set(this.guarded.filter((r) => r.started >= since && done(r)).map((r) => r.who));
      if (recovered.size === users) return;
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

const USERS = 4;
/** A client created from a URL reconnects within this (ms, README). */
const RECONNECT_MS = 500;
/** How long Redis stays away in each scenario (ms). */
const OUTAGE_MS = 2500;

for (const scenario of [
  { name: 'stalled (SIGSTOP, then SIGCONT)', persistent: false, kept: true },
  { name: 'stopped (SIGTERM: Redis shuts down, flushing its append-only file), then restarted on its data', persistent: true, kept: true },
  { name: 'killed (SIGKILL), then restarted on its append-only file', persistent: true, kept: true },
  { name: 'killed (SIGKILL), then restarted empty', persistent: false, kept: false },
] as const) {
  test(`Redis ${scenario.name}, while ${USERS} logged-in users make requests: 503 within storeTimeout (default), other pages at once, one event, recovery measured, ${scenario.kept ? 'no login lost' : 'no login resurrected'}`, { timeout: 30_000 }, async () => {
    const redis = await startOwnRedis({ persistent: scenario.persistent });
    const storeTimeout = 1000; // the default: not passed below
    const t = await startLoginApp(redis);
    const users = await Promise.all(Array.from({ length: USERS }, () => t.login()));
    const traffic = new Traffic(t.url, users);
    try {
      await sleep(200);
      if (scenario.name.startsWith('stalled')) redis.pause();
      else if (scenario.name.startsWith('stopped')) await redis.stop(); // answers until it has exited
      else await redis.kill();
      const down = performance.now();
      await sleep(OUTAGE_MS);
      // `restarting`: from then on Redis may answer; `back`: it answered the test's PING.
      const restarting = performance.now();
      if (scenario.name.startsWith('stalled')) redis.resume();
      else await redis.restart(); // resolves once it answers PING
      const back = performance.now();
      const expected = scenario.kept ? 200 : 401;
      await traffic.until(USERS, back, (r) => r.status === expected);
      await sleep(200);
      await traffic.stop();

      const before = traffic.guarded.filter((r) => r.ended < down);
      assert.ok(before.length >= USERS, 'requests before the outage');
      assert.deepEqual(new Set(before.map((r) => r.status)), new Set([200]), 'all fine before the outage');

      // During the outage: 503 session_unavailable (a request answered once Redis may be back may
      // also have succeeded), and every user met it.
      const during = traffic.guarded.filter((r) => r.started >= down && r.started < back);
      for (const r of during) {
        if (r.ended > restarting && r.status === expected) continue;
        assert.equal(r.status, 503, `user ${r.who} during the outage`);
        assert.equal(r.error, 'session_unavailable');
      }
      for (let user = 0; user < USERS; user++) {
        assert.ok(during.some((r) => r.who === user && r.status === 503), `user ${user} met the outage`);
      }
      const slowest503 = Math.max(...traffic.guarded.filter((r) => r.status === 503).map((r) => r.ms));
      assert.ok(slowest503 <= storeTimeout + MARGIN_MS, `the slowest 503 took ${slowest503.toFixed(0)} ms`);
      assert.equal(t.events.filter((e) => e.code === 'session_unavailable').length, 1, 'one error event for the outage');

      // Pages without the session: always answered, at once.
      assert.deepEqual(new Set(traffic.open.map((r) => r.status)), new Set([200]), 'pages without the session kept answering');
      const slowestOpen = Math.max(...traffic.open.map((r) => r.ms));
      assert.ok(slowestOpen < AT_ONCE_MS, `the slowest page without the session took ${slowestOpen.toFixed(0)} ms`);

      // Recovery: each user's first good answer once Redis is back (measured from its first PONG,
      // 0 when the app got there first); nothing else after it.
      const recovery: number[] = [];
      for (let user = 0; user < USERS; user++) {
        const after = traffic.guarded.filter((r) => r.who === user && r.ended > restarting);
        const first = after.findIndex((r) => r.status === expected);
        assert.ok(first >= 0, `user ${user} recovered (${after.map((r) => r.status).join(' ')})`);
        recovery.push(Math.max(0, after[first]!.ended - back));
        for (const r of after.slice(first)) assert.equal(r.status, expected, `user ${user} after recovery`);
        // In between only 503s (a request still queued for the dead server), never anything else.
        for (const r of after.slice(0, first)) assert.equal(r.status, 503, `user ${user} before recovery`);
      }
      if (!scenario.kept) {
        assert.ok(!traffic.guarded.some((r) => r.started >= down && r.status === 200), 'no request since the kill saw a login');
        for (const r of traffic.guarded.filter((x) => x.status === 401)) assert.equal(r.error, 'login_required');
        const keys = await storedLogins(redis);
        assert.deepEqual(keys, [], 'no login in the restarted Redis');
      }
      const slowestRecovery = Math.max(...recovery);
      figures.push(
        `${scenario.name}: slowest 503 ${slowest503.toFixed(0)} ms (storeTimeout ${storeTimeout}); slowest page without the session ${slowestOpen.toFixed(0)} ms; ` +
          `recovery (Redis back → each user's first ${expected}) ${recovery.map((ms) => ms.toFixed(0)).join(' / ')} ms`,
      );
      // A client created from a URL reconnects within 0.5 s (README); then one request's time.
      assert.ok(slowestRecovery <= RECONNECT_MS + MARGIN_MS, `recovered ${slowestRecovery.toFixed(0)} ms after Redis answered again`);
    } finally {
      await traffic.stop();
      redis.resume();
      await t.close();
      await redis.close();
    }
  });
}

/** Fields `l:…`/`t:…` (a login) in any hash of the Redis, as `key field`. */
async function storedLogins(redis: OwnRedis): Promise<string[]> {
  const client = new Redis(redis.url);
  try {
    const found: string[] = [];
    for (const key of await client.keys('*')) {
      if ((await client.type(key)) !== 'hash') continue;
      for (const field of await client.hkeys(key)) if (/^[lt]:/.test(field)) found.push(`${key} ${field}`);
    }
    return found;
  } finally {
    client.disconnect();
  }
}
