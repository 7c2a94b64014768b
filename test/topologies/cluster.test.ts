/**
 * A real Redis Cluster (three masters, started by the test on free loopback ports): two app
 * instances (processes of their own, each with its own ioredis `Cluster` client passed as
 * `redisSession(app, { redis })`) share the sessions. A login, guarded requests on both, one
 * refresh grant for concurrent requests on both with a due token, and a back-channel logout
 * delivered to one that ends the login on both. A session's hash, its index sets and its refresh
 * lock lie in different slots on different nodes, so a command or script naming two of them would
 * fail with CROSSSLOT (or "non local key" for a script): no node reports any error but the
 * expected NOSCRIPT (first EVALSHA of a script on a node, answered by EVAL).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cluster } from 'ioredis';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/jwt/logout-token.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { loginOn, spawnInstance, type Instance } from '../support/instance.js';
import { uniquePrefix } from '../support/redis.js';
import { command, startRedisCluster, type RedisClusterTopology } from '../support/redis-topologies.js';

const COOKIE = 'koa-session-openid';
const prefix = uniquePrefix('cluster');
let cluster: RedisClusterTopology;
let admin: Cluster;
let op: HostileProvider;
let instances: Instance[] = [];
const startedAt = performance.now();

before(async () => {
  cluster = await startRedisCluster();
  admin = new Cluster(cluster.seeds);
  op = await startHostileProvider({ clientId: 'hostile-client' });
  const options = { topology: { cluster: cluster.seeds }, prefix, discoveryUrl: op.discoveryUrl, openid: { timeout: 2 } };
  instances = await Promise.all([spawnInstance(options), spawnInstance(options)]);
});

after(async () => {
  await Promise.all(instances.map((i) => i.close()));
  await op?.close();
  admin?.disconnect();
  await cluster?.close();
});

const sessionKey = (cookie: string) => prefix + cookie.slice(1, 23);

/** Logs in on `instance` (with the provider session `sid` when given); returns the session cookie's value. */
async function login(instance: Instance, sid?: string): Promise<string> {
  if (sid) op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
  try {
    return await loginOn(instance);
  } finally {
    op.onToken(undefined);
  }
}

async function get(instance: Instance, path: string, cookie: string) {
  const res = await fetch(instance.base + path, { headers: { accept: 'application/json', cookie: `${COOKIE}=${cookie}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Every key under the prefix, with the port of the master that holds it and its slot. */
async function keysByNode(): Promise<Array<{ key: string; port: number; slot: number }>> {
  const out: Array<{ key: string; port: number; slot: number }> = [];
  for (const node of cluster.nodes) {
    for (const key of (await command(node.port, 'KEYS', `${prefix}*`)) as string[]) {
      out.push({ key, port: node.port, slot: Number(await command(node.port, 'CLUSTER', 'KEYSLOT', key)) });
    }
  }
  return out;
}

const refreshGrants = () => op.tokenRequests.filter((r) => r.body.get('grant_type') === 'refresh_token').length;

test('a login on one instance is used on both; its session hash and index sets lie in different slots', async () => {
  const cookie = await login(instances[0]!, `sid-${Date.now()}`);
  const [a, b] = [await get(instances[0]!, '/guarded', cookie), await get(instances[1]!, '/guarded', cookie)];
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(a.body.accessToken, b.body.accessToken);

  const keys = await keysByNode();
  const own = keys.filter((k) => k.key === sessionKey(cookie) || k.key.startsWith(`${prefix}idx:`));
  assert.equal(own.length, 3, `the session hash, its sid and its sub index: ${JSON.stringify(keys)}`);
  assert.equal(new Set(own.map((k) => k.slot)).size, 3, 'three keys, three slots: any command naming two of them would be CROSSSLOT');
});

test('20 concurrent requests on both instances with a due, rotating token: one refresh grant, all 200 with its token', async () => {
  const cookie = await login(instances[1]!);
  op.rotateRefreshTokens = true;
  // Due: expires within refreshSkew (60 s).
  const hot = JSON.parse((await admin.hget(sessionKey(cookie), 'l:hostile'))!) as Record<string, unknown>;
  await admin.hset(sessionKey(cookie), 'l:hostile', JSON.stringify({ ...hot, e: Math.floor(Date.now() / 1000) + 30 }));
  const grants = refreshGrants();
  // A slow token endpoint: the concurrent requests surely overlap the refresh.
  op.onToken(async (ctx) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return op.tokenAnswer(ctx);
  });
  try {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(instances[i % 2]!, '/guarded', cookie)));
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
    assert.equal(refreshGrants() - grants, 1, 'exactly one refresh grant reached the provider');
    const stored = (JSON.parse((await admin.hget(sessionKey(cookie), 't:hostile'))!) as { at: string }).at;
    assert.deepEqual(new Set(answers.map((a) => a.body.accessToken)), new Set([stored]), 'every request used the new token');
  } finally {
    op.onToken(undefined);
    op.rotateRefreshTokens = false;
  }
});

test('a back-channel logout delivered to one instance ends the login on both', async () => {
  const sid = `sid-${Date.now()}-logout`;
  const cookie = await login(instances[0]!, sid);
  const other = await login(instances[1]!); // another login of the same user, another provider session: it stays
  for (const instance of instances) assert.equal((await get(instance, '/guarded', cookie)).status, 200);

  const now = Math.floor(Date.now() / 1000);
  const token = await op.sign({ iss: op.issuer, aud: 'hostile-client', iat: now, exp: now + 120, jti: `jti-${sid}`, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid }, { typ: 'logout+jwt' });
  const res = await fetch(`${instances[1]!.base}/openid/hostile/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: token }) });
  assert.equal(res.status, 200);
  for (const instance of instances) {
    const after = await get(instance, '/guarded', cookie);
    assert.equal(after.status, 401, 'logged out on every instance');
    assert.equal(after.body.error, 'login_required');
  }
  assert.equal(await admin.exists(sessionKey(cookie)), 0, 'the session held nothing else: it ended');
  assert.equal((await get(instances[0]!, '/guarded', other)).status, 200, 'the other provider session is not touched');
});

test('the keys lie on several nodes, and no node refused or failed a command (no CROSSSLOT, no non-local key) but the expected NOSCRIPT', async (t) => {
  const keys = await keysByNode();
  const nodes = new Set(keys.map((k) => k.port));
  assert.ok(nodes.size >= 2, `keys on ${nodes.size} node(s): ${JSON.stringify(keys)}`);

  // Per command: calls, rejected_calls (CROSSSLOT, MOVED, ... before it ran) and failed_calls (an
  // error while it ran: a script touching a key of another slot, NOSCRIPT). Error statistics by
  // code alone would not do: every ioredis connection sends CLIENT SETINFO, which Redis 7.0 refuses
  // (an ERR, counted as such, under no command).
  const problems: string[] = [];
  const served: Record<number, number> = {};
  for (const node of cluster.nodes) {
    const errors = String(await command(node.port, 'INFO', 'errorstats'));
    const noscript = Number(/^errorstat_NOSCRIPT:count=(\d+)/m.exec(errors)?.[1] ?? 0);
    if (/^errorstat_CROSSSLOT/m.test(errors)) problems.push(`${node.port}: ${errors}`);
    const stats = String(await command(node.port, 'INFO', 'commandstats'));
    served[node.port] = 0;
    for (const [, name, calls, rejected, failed] of stats.matchAll(/^cmdstat_([\w|-]+):calls=(\d+),.*rejected_calls=(\d+),failed_calls=(\d+)/gm)) {
      if (/^(evalsha|eval|hmget|zrangebyscore|zrem|set)$/.test(name!)) served[node.port]! += Number(calls);
      if (Number(rejected) > 0 || Number(failed) > (name === 'evalsha' ? noscript : 0)) problems.push(`${node.port}: ${name} calls=${calls} rejected=${rejected} failed=${failed} (NOSCRIPT ${noscript})`);
    }
  }
  t.diagnostic(`keys per node: ${JSON.stringify([...nodes].map((port) => keys.filter((k) => k.port === port).length))}; session commands per node: ${JSON.stringify(Object.values(served))}`);
  assert.deepEqual(problems, []);
  assert.ok(Object.values(served).filter((n) => n > 0).length >= 2, 'the session commands went to several nodes');

  // The check can fail: two of these keys in one command are refused by the cluster.
  const other = keys.find((k) => k.slot !== keys[0]!.slot)!;
  await assert.rejects(command(keys[0]!.port, 'EXISTS', keys[0]!.key, other.key), /^ReplyError: CROSSSLOT/);
  t.diagnostic(`cluster file: ${Math.round(performance.now() - startedAt)} ms from its start`);
});
