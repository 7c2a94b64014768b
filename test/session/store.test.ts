/**
 * The store contract, run against RedisStore (a real redis-server) and MemoryStore alike: atomic
 * conditional changes, single-use takes, lifetimes, the login index.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryStore, RedisStore, type RedisClientLike, type SessionStore } from '../../src/session/index.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const redis = newRedis();
after(() => redis.quit());

const K = { field: 'k', value: 'secret-hash' };

function contract(name: string, make: () => SessionStore, pttl: (tag: string) => Promise<number>) {
  describe(`${name}: the store contract`, () => {
    it('creates a session only when asked for one that does not exist; changes it only while the conditions hold', async () => {
      const store = make();
      assert.deepEqual((await store.change('t1', { when: [K], set: { d: '1' } })), { done: false, failed: 0, fields: 0, maxAge: null }, 'no session: the secret does not match');
      const created = await store.change('t1', { when: [{ field: 'k', value: null }], set: { k: K.value, d: '1' }, ttl: { ms: 60_000, mode: 'reset' } });
      assert.deepEqual(created, { done: true, fields: 2, maxAge: null, extendedMs: 60_000, indexedUntil: null }, 'the lifetime set is reported, with the index mark (none yet)');
      assert.deepEqual((await store.read('t1', ['k', 'd', 'x'])).values, [K.value, '1', null]);
      assert.equal((await store.change('t1', { when: [{ field: 'k', value: null }], set: { k: 'other' } })).done, false, 'an existing session is not created again');
      const wrong = await store.change('t1', { when: [K, { field: 'l:a', value: 'old' }], set: { 'l:a': 'new' } });
      assert.equal(wrong.done, false);
      assert.equal(wrong.failed, 1, 'the index of the condition that failed');
      assert.equal((await store.change('t1', { when: [K, { field: 'l:a', value: null }], set: { 'l:a': 'v1', 'p:1': 'x', 'p:2': 'y', 's:1': 'z' } })).done, true);
      assert.deepEqual(await store.fieldsWithPrefix('t1', ['p:', 's:']), { 'p:1': 'x', 'p:2': 'y', 's:1': 'z' });
      const changed = await store.change('t1', { when: [K, { field: 'l:a', value: 'v1' }], delPrefixes: ['p:'], del: ['s:1'], set: { 'l:a': 'v2' } });
      assert.deepEqual(changed, { done: true, fields: 3, maxAge: null });
      assert.deepEqual((await store.read('t1', ['l:a', 'p:1', 'p:2', 's:1'])).values, ['v2', null, null, null]);
    });

    it('takes a field once, also for 20 concurrent takers, and only with the secret', async () => {
      const store = make();
      await store.change('t2', { set: { k: K.value, 'p:x': 'pending', 'p:y': 'other', 's:z': 'settled', d: 'data' }, ttl: { ms: 60_000, mode: 'reset' } });
      assert.deepEqual(await store.take('t2', 'p:x', { field: 'k', value: 'wrong' }, ['p:']), { value: null, fields: {} });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.take('t2', 'p:x', K, ['p:', 's:'])));
      assert.deepEqual(results.filter((r) => r.value !== null), [{ value: 'pending', fields: { 'p:y': 'other', 's:z': 'settled' } }], 'the one taker also gets the fields left');
      assert.deepEqual(results.filter((r) => r.value === null).length, 19);
      assert.equal(await store.destroy('t2', { field: 'k', value: 'wrong' }), false);
      assert.equal(await store.destroy('t2', K), true);
      assert.deepEqual((await store.read('t2', ['k'])).values, [null]);
    });

    it('lifetimes: reset, extend (never shortens), the session\'s own m (ms or \'session\' = sessionTtl)', async () => {
      const store = make();
      await store.change('t3', { set: { k: K.value }, ttl: { ms: 60_000, mode: 'reset' } });
      assert.ok((await pttl('t3')) > 55_000);
      await store.change('t3', { when: [K], ttl: { ms: 10_000, mode: 'extend' } });
      assert.ok((await pttl('t3')) > 55_000, 'extend does not shorten');
      await store.change('t3', { when: [K], ttl: { ms: 10_000, mode: 'reset' } });
      assert.ok((await pttl('t3')) <= 10_000);
      const own = await store.change('t3', { when: [K], set: { m: '120000' }, ttl: { ms: 10_000, mode: 'reset' } });
      assert.equal(own.maxAge, '120000');
      assert.ok((await pttl('t3')) > 115_000, 'the session\'s own lifetime wins');
      await store.change('t3', { when: [K], set: { m: 'session' }, ttl: { ms: 10_000, mode: 'reset' } });
      const p = await pttl('t3');
      assert.ok(p > 25_000 && p <= 30_000, `'session': sessionTtl (${p})`);
    });

    it('a touch restarts the lifetime for the secret\'s holder only: rolling always, renew once half is gone', async () => {
      const store = make();
      await store.change('t4', { set: { k: K.value, d: 'x' }, ttl: { ms: 10_000, mode: 'reset' } });
      const stranger = await store.read('t4', ['d'], { ms: 60_000, mode: 'rolling', secretHash: 'wrong' });
      assert.equal(stranger.touched, false);
      assert.ok((await pttl('t4')) <= 10_000);
      const renewEarly = await store.read('t4', ['d'], { ms: 15_000, mode: 'renew', secretHash: K.value });
      assert.equal(renewEarly.touched, false, 'more than half of 15 s left');
      await store.change('t4', { when: [K], set: { i: '12345' } });
      const renew = await store.read('t4', ['d'], { ms: 60_000, mode: 'renew', secretHash: K.value });
      assert.deepEqual(renew, { values: ['x'], touched: true, maxAge: null, extendedMs: 60_000, indexedUntil: '12345' });
      assert.ok((await pttl('t4')) > 55_000);
    });

    it('the login index: members until they expire, removable, the set expires with its last member', async () => {
      const store = make();
      const key = `${store.prefix}idx:test:${Math.random()}`;
      await store.indexAdd(key, 'a', Date.now() + 60_000);
      await store.indexAdd(key, 'b', Date.now() + 150);
      assert.deepEqual((await store.indexMembers(key)).sort(), ['a', 'b']);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await store.indexMembers(key), ['a']);
      await store.indexRemove(key, 'a');
      assert.deepEqual(await store.indexMembers(key), []);
    });

    it('claims: one of 20 concurrent claimers wins; only the owner releases; an expired claim can be taken again', async () => {
      const store = make();
      const key = `${store.prefix}lock:test:${Math.random()}`;
      const won = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claim(key, 150, `owner-${i}`)));
      assert.equal(won.filter(Boolean).length, 1);
      const owner = `owner-${won.indexOf(true)}`;
      assert.equal(await store.release(key, 'someone-else'), false, 'not the owner');
      assert.equal(await store.claim(key, 150, 'late'), false, 'still held');
      assert.equal(await store.release(key, owner), true);
      assert.equal(await store.claim(key, 100, 'next'), true, 'free again once released');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(await store.claim(key, 1000, 'after-expiry'), true, 'an expired claim is free');
      assert.equal(await store.release(key, 'next'), false, 'the expired owner cannot release its successor');
      assert.equal(await store.release(key, 'after-expiry'), true);
    });
  });
}

const redisStore = new RedisStore(redis, { prefix: uniquePrefix('store'), sessionTtl: 30_000 });
contract('RedisStore', () => redisStore, (tag) => redis.pttl(redisStore.prefix + tag));
const memory = new MemoryStore({ sessionTtl: 30_000 });
contract('MemoryStore', () => memory, async (tag) => memory.pttl(tag));

describe('RedisStore', () => {
  it('sends only HMGET, EVALSHA (EVAL after a SCRIPT FLUSH), ZRANGEBYSCORE and ZREM: never SELECT on the shared client', async () => {
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
    await redis.script('FLUSH');
    await store.change('id', { set: { k: 'h' }, ttl: { ms: 60_000, mode: 'reset' } });
    await store.read('id', ['k']);
    await store.take('id', 'x', { field: 'k', value: 'h' });
    await store.indexAdd(`${store.prefix}idx`, 'id', Date.now() + 1000);
    await store.indexMembers(`${store.prefix}idx`);
    await store.indexRemove(`${store.prefix}idx`, 'id');
    await store.destroy('id', { field: 'k', value: 'h' });
    assert.deepEqual(calls, ['evalsha', 'eval', 'hmget', 'evalsha', 'eval', 'evalsha', 'eval', 'zrangebyscore', 'zrem', 'evalsha', 'eval']);
  });

  it('writes into the database the given client has selected', async () => {
    const db5 = new Redis(redisUrl(), { db: 5 });
    const db0 = new Redis(redisUrl(), { db: 0 });
    try {
      const prefix = uniquePrefix('store-db');
      const store = new RedisStore(db5, { prefix });
      await store.change('id', { set: { k: 'h' }, ttl: { ms: 60_000, mode: 'reset' } });
      assert.equal(await db5.hget(`${prefix}id`, 'k'), 'h');
      assert.equal(await db0.exists(`${prefix}id`), 0);
    } finally {
      await Promise.all([db5.quit(), db0.quit()]);
    }
  });

  it('rejects a bad client or option with a TypeError naming it', () => {
    assert.throws(() => new RedisStore({} as RedisClientLike), { name: 'TypeError', message: /"client" must be an ioredis client/ });
    assert.throws(() => new RedisStore(redis, { sessionTtl: -1 }), { name: 'TypeError', message: '"sessionTtl" must be a positive number of milliseconds' });
    assert.throws(() => new RedisStore(redis, { prefix: 1 as unknown as string }), { name: 'TypeError', message: /^"prefix" must be a string/ });
    assert.throws(() => new RedisStore(redis, { ttl: 1 } as object), { name: 'TypeError', message: /unknown option "ttl"/ });
  });
});
