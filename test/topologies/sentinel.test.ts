/**
 * A real Sentinel failover (a master, a replica and three sentinels, started by the test on free
 * loopback ports): an app instance (a process of its own) keeps its sessions through an ioredis
 * client in sentinel mode. A user logs in, the login reaches the replica, the master is killed
 * (SIGKILL), and while the sentinels promote the replica the user keeps making requests: each one
 * answers 200 or the documented 503 session_unavailable, none waits much beyond storeTimeout
 * (1 s), and once the replica is promoted the same user is logged in again, with no restart of the
 * app; writes go to the new master. The figures (failover time: kill → first 200; 503s) are
 * printed as diagnostics.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startHostileProvider, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { spawnInstance, type Instance } from '../support/instance.js';
import { uniquePrefix } from '../support/redis.js';
import { command, startSentinelSet, type SentinelTopology } from '../support/redis-topologies.js';

const COOKIE = 'koa-session-openid';
/** redisSession's default storeTimeout. */
const STORE_TIMEOUT_MS = 1000;
const prefix = uniquePrefix('sentinel');
let set: SentinelTopology;
let op: HostileProvider;
let instance: Instance | undefined;

before(async () => {
  set = await startSentinelSet();
  op = await startHostileProvider({ clientId: 'hostile-client' });
  instance = await spawnInstance({ topology: { sentinels: set.sentinelAddresses, name: set.name }, prefix, discoveryUrl: op.discoveryUrl });
});

after(async () => {
  await instance?.close();
  await op?.close();
  await set?.close();
});

interface Answer {
  /** Milliseconds since the master was killed, when the request started. */
  at: number;
  status: number;
  error?: string;
  accessToken?: string;
  ms: number;
}

async function get(path: string, cookie: string, since: number): Promise<Answer> {
  const at = performance.now() - since;
  // A request the app never answers fails the test (the abort), it does not hang it.
  const res = await fetch(instance!.base + path, { headers: { accept: 'application/json', cookie: `${COOKIE}=${cookie}` }, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { error?: string; accessToken?: string };
  return { at, status: res.status, error: body.error, accessToken: body.accessToken, ms: performance.now() - since - at };
}

test('the master killed: 503 session_unavailable at worst while the sentinels promote the replica, then the same login, without a restart', async (t) => {
  const browser = new Browser();
  const { response } = await browser.follow(`${instance!.base}/openid/hostile/login`, { headers: { accept: 'application/json' } });
  await response.arrayBuffer();
  const cookie = browser.cookies(instance!.base)[COOKIE];
  assert.ok(cookie, 'logged in');
  const before = await get('/guarded', cookie, performance.now());
  assert.equal(before.status, 200);

  // The login is on the replica: a write after it, acknowledged by the replica (WAIT on the same
  // connection), comes after it in the replication stream; and the replica holds the same login.
  const master = new Redis({ host: '127.0.0.1', port: set.master.port, retryStrategy: () => null });
  master.on('error', () => {});
  try {
    await master.set(`${prefix}replicated`, '1');
    assert.equal(await master.wait(1, 1000), 1, 'one replica acknowledged the writes');
    const key = prefix + cookie.slice(1, 23);
    const stored = await master.hget(key, 'l:hostile');
    assert.ok(stored);
    assert.equal(await command(set.replica.port, 'HGET', key, 'l:hostile'), stored, 'the replica holds the login');
  } finally {
    master.disconnect();
  }

  const killedAt = performance.now();
  await set.master.kill();
  // A request every 100 ms (not waiting for the previous answer, as visitors do) until a second
  // after the first 200, for at most 30 s.
  const pending: Array<Promise<Answer>> = [];
  let back: number | undefined;
  while (performance.now() - killedAt < 30_000 && (back === undefined || performance.now() - killedAt < back + 1000)) {
    pending.push(get('/guarded', cookie, killedAt).then((a) => {
      if (a.status === 200) back = Math.min(back ?? Infinity, a.at + a.ms);
      return a;
    }));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const answers = await Promise.all(pending);
  const unavailable = answers.filter((a) => a.status === 503);
  const slowest = Math.max(...answers.map((a) => a.ms));
  t.diagnostic(`failover: kill → first 200 ${back === undefined ? 'never' : Math.round(back)} ms; ${answers.length} requests (one every 100 ms), ${unavailable.length} × 503, slowest answer ${Math.round(slowest)} ms`);
  t.diagnostic(`started at (ms after the kill): status/ms to answer: ${answers.map((a) => `${Math.round(a.at)}: ${a.status}/${Math.round(a.ms)}`).join(', ')}`);

  assert.ok(back !== undefined, `a 200 within 30 s of the kill: ${JSON.stringify(answers.slice(-3))}`);
  assert.deepEqual(answers.filter((a) => a.status !== 200 && !(a.status === 503 && a.error === 'session_unavailable')), [], 'every answer is 200 or 503 session_unavailable');
  assert.ok(slowest < STORE_TIMEOUT_MS + 500, `no request waited much beyond storeTimeout (slowest ${Math.round(slowest)} ms)`);
  assert.deepEqual(answers.filter((a) => a.at >= back!).map((a) => a.status), answers.filter((a) => a.at >= back!).map(() => 200), 'once back, it stays');
  assert.ok(answers.filter((a) => a.at >= back!).length >= 5, 'requests after the failover');
  assert.ok(answers.filter((a) => a.status === 200).every((a) => a.accessToken === before.accessToken), 'the same login (replicated), not a new one');
  assert.deepEqual(await set.currentMaster(), { host: '127.0.0.1', port: set.replica.port }, 'the replica is the master now');

  // Writes go to the new master: a refresh stores new tokens, which the next request uses.
  const refreshed = await fetch(`${instance!.base}/refresh`, { headers: { accept: 'application/json', cookie: `${COOKIE}=${cookie}` } });
  assert.equal(refreshed.status, 200);
  const { accessToken } = (await refreshed.json()) as { accessToken: string };
  assert.notEqual(accessToken, before.accessToken);
  assert.equal((await get('/guarded', cookie, performance.now())).accessToken, accessToken);
});
