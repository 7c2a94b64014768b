/**
 * Load (issue 11): a refresh storm. 20 logins whose access tokens all expire at once, then 200
 * concurrent requests on them, spread over three app instances (separate processes sharing one
 * Redis), with a provider that rotates refresh tokens (a second use of a spent one is refused and
 * ends the login): exactly one refresh grant per login, no failed request, and every request of a
 * login gets that login's new access token. Three storms: a slow token endpoint (every request
 * arrives while its login's refresh is in flight), full speed, and full speed with the requests
 * spread over 300 ms (some arrive just as a refresh ends).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHostileProvider, type HostileProvider } from '../support/hostile-provider.js';
import { loginOn, spawnInstance, type Instance } from '../support/instance.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const LOGINS = 20;
const REQUESTS = 200;
const COOKIE = 'koa-session-openid';
const redis = newRedis();
const prefix = uniquePrefix('storm');
let op: HostileProvider;
let instances: Instance[];

before(async () => {
  op = await startHostileProvider({ clientId: 'hostile-client' });
  const options = { redisUrl: redisUrl(), prefix, discoveryUrl: op.discoveryUrl };
  instances = await Promise.all([spawnInstance(options), spawnInstance(options), spawnInstance(options)]);
});

after(async () => {
  await Promise.all((instances ?? []).map((i) => i.close()));
  await op?.close();
  const keys = await keysUnder(prefix);
  if (keys.length) await redis.unlink(...keys);
  await redis.quit();
});

async function keysUnder(pattern: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${pattern}*`, 'COUNT', 1000);
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (cursor !== '0');
  return [...keys];
}

/** Logs `sub` in (a browser of its own, on one of the instances); returns its session cookie. */
async function login(sub: string, instance: Instance): Promise<string> {
  op.subject = sub;
  return loginOn(instance);
}

const sessionKey = (cookie: string) => prefix + cookie.slice(1, 23);

/** The stored tokens and the hot record of a login. */
async function stored(cookie: string): Promise<{ at: string; rt: string; e: number; sub: string }> {
  const [hot, tokens] = await redis.hmget(sessionKey(cookie), 'l:hostile', 't:hostile');
  const { e, c } = JSON.parse(hot!) as { e: number; c: { sub: string } };
  const { at, rt } = JSON.parse(tokens!) as { at: string; rt: string };
  return { at, rt, e, sub: c.sub };
}

/** Makes the stored access token expire `inSeconds` from now (negative: expired). */
async function expireIn(cookie: string, inSeconds: number): Promise<void> {
  const hot = JSON.parse((await redis.hget(sessionKey(cookie), 'l:hostile'))!) as Record<string, unknown>;
  await redis.hset(sessionKey(cookie), 'l:hostile', JSON.stringify({ ...hot, e: Math.floor(Date.now() / 1000) + inSeconds }));
}

async function guarded(instance: Instance, cookie: string): Promise<{ status: number; accessToken?: string; error?: string }> {
  const res = await fetch(`${instance.base}/guarded`, { headers: { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' } });
  const body = (await res.json()) as { accessToken?: string; error?: string };
  return { status: res.status, ...body };
}

/**
 * `delayMs`: how long the token endpoint takes. `spreadMs`: the requests start evenly over this
 * time (0: all at once), so that some read a login just before its refresh is stored and ask for
 * its lock just after it was released (the refresh must then read the login again under the lock).
 */
const storms = [
  { delayMs: 250, spreadMs: 0, what: 'a slow token endpoint (250 ms), all requests at once' },
  { delayMs: 0, spreadMs: 0, what: 'token endpoint at full speed, all requests at once' },
  { delayMs: 0, spreadMs: 300, what: 'token endpoint at full speed, requests over 300 ms' },
];

for (const { delayMs, spreadMs, what } of storms) {
  test(`refresh storm, ${what}: ${LOGINS} logins expire at once, ${REQUESTS} concurrent requests on 3 instances: one refresh grant per login, all succeed with their login's new token`, { timeout: 60_000 }, async () => {
    op.onToken(undefined);
    op.rotateRefreshTokens = false;
    const subs = Array.from({ length: LOGINS }, (_, i) => `storm-${delayMs}-${spreadMs}-${i}`);
    const cookies: string[] = [];
    for (const [i, sub] of subs.entries()) cookies.push(await login(sub, instances[i % 3]!));
    const before = await Promise.all(cookies.map(stored));
    assert.deepEqual(before.map((s) => s.sub), subs);

    op.rotateRefreshTokens = true;
    if (delayMs) {
      op.onToken(async (ctx) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return op.tokenAnswer(ctx);
      });
    }
    await Promise.all(cookies.map((cookie) => expireIn(cookie, -1)));
    const seen = op.tokenRequests.length;

    // Request j: login j % 20 on instance j % 3, so each login's 10 requests meet all three instances.
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, j) => {
        if (spreadMs) await new Promise((resolve) => setTimeout(resolve, (j * spreadMs) / REQUESTS));
        return guarded(instances[j % 3]!, cookies[j % LOGINS]!);
      }),
    );
    const ms = performance.now() - started;
    op.onToken(undefined);

    const failed = answers.filter((a) => a.status !== 200);
    const grants = op.tokenRequests.slice(seen).filter((r) => r.body.get('grant_type') === 'refresh_token');
    console.log(
      `refresh storm (token endpoint +${delayMs} ms, requests over ${spreadMs} ms): ${REQUESTS} requests on ${LOGINS} expired logins, 3 instances, ${ms.toFixed(0)} ms, ` +
        `${grants.length} refresh grants, ${failed.length} failed`,
    );
    const failures: Record<string, number> = {};
    for (const a of failed) failures[`${a.status} ${a.error}`] = (failures[`${a.status} ${a.error}`] ?? 0) + 1;
    assert.deepEqual(failures, {}, 'no failed request');
    // Exactly one grant per login, each spending that login's refresh token (a second would be refused).
    assert.deepEqual(grants.map((g) => g.body.get('refresh_token')).sort(), before.map((s) => s.rt).sort(), 'one refresh grant per login');

    const after = await Promise.all(cookies.map(stored));
    assert.equal(new Set(after.map((s) => s.at)).size, LOGINS, 'a new access token per login');
    after.forEach((now, l) => {
      assert.equal(now.sub, subs[l]);
      assert.notEqual(now.at, before[l]!.at, `login ${l} was refreshed`);
      assert.notEqual(now.rt, before[l]!.rt, `login ${l} holds its rotated refresh token`);
      assert.ok(now.e > Date.now() / 1000 + 60, `login ${l}: its new token is not due`);
      const mine = answers.filter((_, j) => j % LOGINS === l);
      assert.equal(mine.length, REQUESTS / LOGINS);
      assert.deepEqual(new Set(mine.map((a) => a.accessToken)), new Set([now.at]), `every request of login ${l} got its new token`);
    });
    assert.deepEqual(await keysUnder(`${prefix}lock:`), [], 'every refresh lock was released');

    // The logins live on: one more request on each uses the new token, with no further grant.
    const grantsNow = op.tokenRequests.length;
    const again = await Promise.all(cookies.map((cookie, l) => guarded(instances[(l + 1) % 3]!, cookie)));
    assert.deepEqual(again.map((a) => a.accessToken), after.map((s) => s.at));
    assert.equal(op.tokenRequests.length, grantsNow);
  });
}
