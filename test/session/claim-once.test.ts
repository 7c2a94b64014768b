/**
 * claimOnce, for logins kept in a koa-session of the app's own: a login's state is taken once,
 * atomically in the store's Redis (real Redis), else per process.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import koaRedis from 'koa-redis';
import { claimOnce } from '../../src/session/claim-once.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const redis = newRedis();
after(() => redis.quit());
const ctxWith = (store: unknown) => ({ sessionOptions: { store } }) as unknown as Context;
const id = () => `state:${Math.random().toString(36).slice(2)}`;

test('koa-redis over the app\'s ioredis 6 client: of 20 concurrent claims exactly one wins; the claim expires with its TTL', async () => {
  const ctx = ctxWith(koaRedis({ client: redis as never, prefix: uniquePrefix('claim') } as never));
  const key = id();
  const results = await Promise.all(Array.from({ length: 20 }, () => claimOnce(ctx, key, 300)));
  assert.equal(results.filter(Boolean).length, 1);
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(await claimOnce(ctx, key, 300), true, 'free again after the TTL');
});

test('koa-redis: SET NX on its ioredis client, atomic across the processes sharing Redis', async () => {
  const store = koaRedis({ url: redisUrl() });
  try {
    const ctx = ctxWith(store);
    const key = id();
    const results = await Promise.all(Array.from({ length: 20 }, () => claimOnce(ctx, key, 5000)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.ok((await redis.pttl(`koa-session-openid:claim:${key}`)) > 0, 'the claim key expires');
  } finally {
    await store.client.quit();
  }
});

test('a store with another kind of client (node-redis takes set(key, value, options)) is not sent a SET it would misread', async () => {
  let calls = 0;
  const nodeRedisLike = { client: { set: async () => { calls++; return 'OK'; }, isOpen: true } };
  const ctx = ctxWith(nodeRedisLike);
  const key = id();
  assert.equal(await claimOnce(ctx, key, 5000), true);
  assert.equal(await claimOnce(ctx, key, 5000), false, 'single use within the process');
  assert.equal(calls, 0);
});

test('a store whose claim fails (even synchronously) is session_unavailable, never a crash', async () => {
  const ctx = ctxWith({ claim: () => { throw new Error('connection lost'); } });
  await assert.rejects(claimOnce(ctx, id(), 1000), { name: 'OpenIDError', code: 'session_unavailable' });
});
