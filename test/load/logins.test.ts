/**
 * Load (issue 11): 1,000 code-flow logins from distinct browsers (each its own cookie jar), 64 at a
 * time, against the real oidc-provider (the development provider, in this process,
 * non-interactive), each login for a user of its own (its `login_hint`: see
 * test/support/login-hint.ts). Every browser ends logged in as its own user (its landing page, then
 * every browser again at once, then the stored login), and Redis then holds the 1,000 sessions,
 * their login index and, for 16 more logins left at the provider, a session holding only the
 * pending login that expires with loginTimeout: nothing else. Prints logins/s and the p50/p99 time
 * of one login (from the app's route that starts it to the page it returns to).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { indexKey } from '../../src/session/login-index.js';
import { startFixture, type Fixture } from '../support/fixture.js';
import { Browser } from '../support/http-client.js';
import { accountsFromLoginHint } from '../support/login-hint.js';

const LOGINS = 1000;
const CONCURRENCY = 64;
/** Logins started and left at the provider (never finished). */
const ABANDONED = 16;
const NAME = 'dev';
const COOKIE = 'koa-session-openid';
/** redisSession's default lifetime and the provider's default `loginTimeout`, in ms. */
const MAX_AGE_MS = 86_400_000;
const LOGIN_TIMEOUT_MS = 600_000;

let fx: Fixture;

before(async () => {
  fx = await startFixture([{ name: NAME }], (app, openid) => {
    const provider = openid[NAME]!;
    const guard = provider.required();
    app.use(async (ctx, next) => {
      if (ctx.path === '/login-as') {
        // The login route takes only returnTo: an app route of its own passes the login_hint.
        await provider.login(ctx, { loginHint: String(ctx.query.user), returnTo: '/me' });
      } else if (ctx.path === '/me') {
        await guard(ctx, async () => {
          ctx.body = { sub: ctx.state.user!.sub };
        });
      } else {
        await next();
      }
    });
  });
  accountsFromLoginHint(fx.ops[NAME]!);
});

after(async () => {
  if (!fx) return;
  // Leave nothing behind in a shared Redis.
  const keys = await allKeys(fx.prefix);
  for (let i = 0; i < keys.length; i += 500) await fx.redis.unlink(...keys.slice(i, i + 500));
  await fx.close();
});

/** Every key under `prefix` (SCAN: a key seen twice is listed once). */
async function allKeys(prefix: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [nextCursor, batch] = await fx.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    for (const key of batch) keys.add(key);
    cursor = nextCursor;
  } while (cursor !== '0');
  return [...keys];
}

const user = (i: number) => `load-user-${String(i).padStart(4, '0')}`;

/** Runs `count` tasks, `concurrency` at a time, in order of their index. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

test(`${LOGINS} logins from distinct browsers, ${CONCURRENCY} at a time: each its own user, and Redis holds only their sessions, their index and the pending logins left`, { timeout: 180_000 }, async () => {
  const browsers = Array.from({ length: LOGINS }, () => new Browser());
  const times: number[] = [];
  const landed: Array<{ status: number; url: string; body: string }> = [];
  const started = performance.now();
  await pool(LOGINS, CONCURRENCY, async (i) => {
    const t0 = performance.now();
    const { response, urls } = await browsers[i]!.follow(`${fx.base}/login-as?user=${user(i)}`);
    landed[i] = { status: response.status, url: urls.at(-1)!, body: await response.text() };
    times.push(performance.now() - t0);
  });
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  console.log(
    `${LOGINS} logins, ${CONCURRENCY} at a time: ${(LOGINS / seconds).toFixed(0)} logins/s (${seconds.toFixed(1)} s), ` +
      `one login p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms`,
  );

  // Every login landed on /me as its own user.
  const wrongLandings = landed.flatMap((l, i) =>
    l.status === 200 && l.url === `${fx.base}/me` && l.body === JSON.stringify({ sub: user(i) }) ? [] : [`login ${i} (${user(i)}): ${l.status} ${l.url} ${l.body.slice(0, 200)}`],
  );
  assert.deepEqual(wrongLandings, [], 'every login lands on /me as its own user');

  // Afterwards, all at once: each browser's cookie still names its own user, and only its own.
  const cookies = browsers.map((b) => b.cookies(fx.base)[COOKIE]!);
  assert.equal(new Set(cookies).size, LOGINS, 'a distinct session cookie per browser');
  const me: string[] = [];
  await pool(LOGINS, CONCURRENCY, async (i) => {
    const res = await browsers[i]!.get(`${fx.base}/me`, { headers: { accept: 'application/json' } });
    me[i] = `${res.status} ${await res.text()}`;
  });
  const crossTalk = me.flatMap((m, i) => (m === `200 ${JSON.stringify({ sub: user(i) })}` ? [] : [`browser ${i} (${user(i)}) sees ${m.slice(0, 200)}`]));
  assert.deepEqual(crossTalk, [], 'each browser sees its own user');

  // A few logins started and left at the provider's door: each a session of its own holding only
  // the pending login.
  const leftAtProvider = await Promise.all(
    Array.from({ length: ABANDONED }, async (_, i) => {
      const browser = new Browser();
      const { stoppedAt } = await browser.follow(`${fx.base}/login-as?user=gone-${i}`, { stopAt: `${fx.ops[NAME]!.issuer}/` });
      assert.ok(stoppedAt, 'sent to the provider');
      return browser.cookies(fx.base)[COOKIE]!;
    }),
  );

  // Redis: every key under the test's prefix, by kind.
  const { redis, prefix } = fx;
  const unique = await allKeys(prefix);
  const sessionKeys = unique.filter((k) => !k.startsWith(`${prefix}idx:`));
  const indexKeys = unique.filter((k) => k.startsWith(`${prefix}idx:`));
  const pendingKeys = new Set(leftAtProvider.map((c) => prefix + c.slice(1, 23)));
  const expected = new Set([...cookies.map((c) => prefix + c.slice(1, 23)), ...pendingKeys]);
  const found = new Set(sessionKeys);
  assert.deepEqual(
    { unexpected: sessionKeys.filter((k) => !expected.has(k)), missing: [...expected].filter((k) => !found.has(k)) },
    { unexpected: [], missing: [] },
    'a session hash per browser (logged in, or a login left pending), and no other key but the login index',
  );

  const now = Date.now();
  const pipeline = redis.pipeline();
  for (const key of sessionKeys) pipeline.type(key).pttl(key).hgetall(key);
  const sessions = new Map<string, Record<string, string>>();
  const answers = (await pipeline.exec())!.map(([err, value]) => {
    assert.ifError(err);
    return value;
  });
  sessionKeys.forEach((key, n) => {
    const [type, ttl, fields] = answers.slice(3 * n, 3 * n + 3) as [string, number, Record<string, string>];
    assert.equal(type, 'hash', key);
    if (pendingKeys.has(key)) {
      // A session that exists only for a login in progress lives loginTimeout, and holds just that.
      assert.ok(ttl > LOGIN_TIMEOUT_MS - 5 * 60_000 && ttl <= LOGIN_TIMEOUT_MS, `${key} (pending): TTL ${ttl} ms`);
      const names = Object.keys(fields).sort();
      assert.equal(names.length, 2, `${key} (pending): ${names.join(' ')}`);
      assert.equal(names[0], 'k');
      assert.match(names[1]!, /^p:[\w-]{22}$/);
      const pending = JSON.parse(fields[names[1]!]!) as { provider: string; createdAt: number };
      assert.equal(pending.provider, NAME);
      assert.ok(now - pending.createdAt < 5 * 60_000);
    } else {
      // A logged-in session lives its lifetime from the login (it started with loginTimeout).
      assert.ok(ttl > MAX_AGE_MS - 5 * 60_000 && ttl <= MAX_AGE_MS, `${key}: TTL ${ttl} ms`);
    }
    sessions.set(key, fields);
  });

  cookies.forEach((cookie, i) => {
    const key = prefix + cookie.slice(1, 23);
    const fields = sessions.get(key)!;
    const names = Object.keys(fields).sort();
    // k: the secret's hash; l:/t:/u: the login (hot, tokens, last use); i: indexed until;
    // s:<state id>: the settled (completed) login, read only within loginTimeout (a reloaded callback).
    // No pending login (p:), no app data (d), no own lifetime (m), no logout (o:), no silent try (q:).
    assert.deepEqual(names.filter((f) => !f.startsWith('s:')), ['i', 'k', `l:${NAME}`, `t:${NAME}`, `u:${NAME}`], `${key}: ${names.join(' ')}`);
    const settled = names.filter((f) => f.startsWith('s:'));
    assert.equal(settled.length, 1, `${key}: one settled login`);
    const record = JSON.parse(fields[settled[0]!]!) as { provider: string; outcome: string; at: number };
    assert.equal(record.provider, NAME);
    assert.equal(record.outcome, 'completed');
    assert.ok(now - record.at < LOGIN_TIMEOUT_MS, 'settled within loginTimeout');
    // The stored login is this browser's user (no cross-talk in the store either).
    assert.equal((JSON.parse(fields[`l:${NAME}`]!) as { c: { sub: string } }).c.sub, user(i), key);
    const tokens = JSON.parse(fields[`t:${NAME}`]!) as { at?: string; it?: string };
    assert.ok(tokens.at && tokens.it, 'access and ID token stored');
  });

  // The login index: one sorted set per user (sub) and per provider session (sid), each naming
  // exactly the one session of that login, expiring half a session lifetime after it.
  const indexKind = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}idx:${NAME}:(sub|sid):[\\w-]{32}$`);
  const unknownIndexKeys = indexKeys.filter((key) => !indexKind.test(key));
  assert.deepEqual(unknownIndexKeys, [], 'no index key of another kind');
  const indexPipeline = redis.pipeline();
  for (const key of indexKeys) indexPipeline.type(key).pttl(key);
  const kinds = (await indexPipeline.exec())!.map(([err, value]) => {
    assert.ifError(err);
    return value;
  });
  indexKeys.forEach((key, n) => {
    const [type, ttl] = kinds.slice(2 * n, 2 * n + 2) as [string, number];
    assert.equal(type, 'zset', key);
    assert.ok(ttl > 1.5 * MAX_AGE_MS - 5 * 60_000 && ttl <= 1.5 * MAX_AGE_MS, `${key}: TTL ${ttl} ms`);
  });
  const membersPipeline = redis.pipeline();
  for (const key of indexKeys) membersPipeline.zrange(key, '0', '-1');
  const members = new Map(
    (await membersPipeline.exec())!.map(([err, value], n) => {
      assert.ifError(err);
      return [indexKeys[n]!, value as string[]];
    }),
  );
  const count = (kind: string) => indexKeys.filter((key) => indexKind.exec(key)![1] === kind).length;
  assert.equal(count('sub'), LOGINS, 'one sub index per user');
  assert.ok([0, LOGINS].includes(count('sid')), `sid index: ${count('sid')} keys`);
  for (const [key, tags] of members) assert.equal(tags.length, 1, `${key}: one session per user and per provider session`);
  cookies.forEach((cookie, i) => {
    assert.deepEqual(members.get(indexKey(prefix, NAME, { sub: user(i) })), [cookie.slice(1, 23)], `${user(i)} is indexed with its own session`);
  });
});
