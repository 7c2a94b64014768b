import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore, type RedisClientLike } from '../../src/session/index.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const redis = newRedis();
after(() => redis.quit());

const ctx = {};
const DAY = 24 * 60 * 60 * 1000;

describe('RedisStore', () => {
  it('stores, reads and destroys a session as JSON under the prefix', async () => {
    const prefix = uniquePrefix('store-roundtrip');
    const store = new RedisStore(redis, { prefix });
    const data = { user: { sub: 'alice' }, _expire: Date.now() + 60_000, _maxAge: 60_000 };

    await store.set('id-1', data, 70_000, { changed: true, rolling: false, ctx });
    assert.deepEqual(JSON.parse((await redis.get(`${prefix}id-1`))!), data);
    assert.deepEqual(await store.get('id-1', 60_000, { rolling: false, ctx }), data);

    await store.destroy('id-1', { ctx });
    assert.equal(await redis.exists(`${prefix}id-1`), 0);
    assert.equal(await store.get('id-1', 60_000, { rolling: false, ctx }), undefined);
  });

  it('sets the TTL from maxAge in milliseconds (PX)', async () => {
    const prefix = uniquePrefix('store-ttl');
    const store = new RedisStore(redis, { prefix });
    await store.set('id', { a: 1 }, 70_000, { changed: true, rolling: false, ctx });
    const pttl = await redis.pttl(`${prefix}id`);
    assert.ok(pttl > 69_000 && pttl <= 70_000, `PTTL ${pttl}`);

    await store.set('frac', { a: 1 }, 1500.4, { changed: true, rolling: false, ctx });
    const fracTtl = await redis.pttl(`${prefix}frac`);
    assert.ok(fracTtl > 1000 && fracTtl <= 1501, `PTTL ${fracTtl}`);
  });

  it("keeps a maxAge 'session' session for sessionTtl (default 1 day)", async () => {
    const prefix = uniquePrefix('store-session-ttl');
    const short = new RedisStore(redis, { prefix, sessionTtl: 5_000 });
    await short.set('id', { a: 1 }, 'session', { changed: true, rolling: false, ctx });
    const pttl = await redis.pttl(`${prefix}id`);
    assert.ok(pttl > 4_000 && pttl <= 5_000, `PTTL ${pttl}`);

    const byDefault = new RedisStore(redis, { prefix });
    await byDefault.set('id2', { a: 1 }, 'session', { changed: true, rolling: false, ctx });
    const dayTtl = await redis.pttl(`${prefix}id2`);
    assert.ok(dayTtl > DAY - 60_000 && dayTtl <= DAY, `PTTL ${dayTtl}`);
  });

  it("uses the default prefix 'koa-session-openid:sess:'", async () => {
    const store = new RedisStore(redis);
    const id = randomUUID();
    await store.set(id, { a: 1 }, 60_000, { changed: true, rolling: false, ctx });
    try {
      assert.equal(store.prefix, 'koa-session-openid:sess:');
      assert.equal(await redis.exists(`koa-session-openid:sess:${id}`), 1);
    } finally {
      await store.destroy(id, { ctx });
    }
  });

  it('reads a corrupt or non-object value as no session, without throwing', async () => {
    const prefix = uniquePrefix('store-corrupt');
    const store = new RedisStore(redis, { prefix });
    for (const [id, raw] of [['a', '{not json'], ['b', '[1,2]'], ['c', '"text"'], ['d', 'null'], ['e', '42'], ['f', '']]) {
      await redis.set(`${prefix}${id}`, raw!, 'PX', 60_000);
      assert.equal(await store.get(id!, 60_000, { rolling: false, ctx }), undefined, `value ${JSON.stringify(raw)}`);
    }
  });

  it('sends only GET, SET and DEL: never SELECT on the shared client', async () => {
    const calls: string[] = [];
    const spy = new Proxy(redis, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as RedisClientLike;
    const store = new RedisStore(spy, { prefix: uniquePrefix('store-spy') });
    await store.set('id', { a: 1 }, 60_000, { changed: true, rolling: false, ctx });
    await store.get('id', 60_000, { rolling: false, ctx });
    await store.destroy('id', { ctx });
    assert.deepEqual(calls, ['set', 'get', 'del']);
  });

  it('writes into the database the given client has selected', async () => {
    const db5 = new Redis(redisUrl(), { db: 5 });
    const other = new Redis(redisUrl(), { db: 5 });
    const db0 = new Redis(redisUrl(), { db: 0 });
    try {
      const prefix = uniquePrefix('store-db');
      const store = new RedisStore(db5, { prefix });
      await store.set('id', { a: 1 }, 60_000, { changed: true, rolling: false, ctx });
      assert.equal(await other.get(`${prefix}id`), '{"a":1}');
      assert.equal(await db0.exists(`${prefix}id`), 0);
    } finally {
      await Promise.all([db5.quit(), other.quit(), db0.quit()]);
    }
  });

  it('rejects a bad client or option with a TypeError naming it', () => {
    assert.throws(() => new RedisStore({} as RedisClientLike), { name: 'TypeError', message: /"client" must be an ioredis client/ });
    assert.throws(() => new RedisStore(redis, { sessionTtl: -1 }), { name: 'TypeError', message: '"sessionTtl" must be a positive number of milliseconds' });
    assert.throws(() => new RedisStore(redis, { prefix: 1 as unknown as string }), { name: 'TypeError', message: /^"prefix" must be a string/ });
    assert.throws(() => new RedisStore(redis, { ttl: 1 } as object), { name: 'TypeError', message: /unknown option "ttl"/ });
  });
});
