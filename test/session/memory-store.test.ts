import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Koa from 'koa';
import { MemoryStore, redisSession } from '../../src/session/index.js';
import { Jar, serve } from './http.js';

const ctx = {};
const WARNING = 'KOA_SESSION_OPENID_MEMORY_STORE';

describe('MemoryStore', () => {
  // First in this file: the warning is emitted once per process.
  it('is the fallback without redis, store and REDIS_URL, and warns once per process', async () => {
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === WARNING) warnings.push(w);
    };
    process.on('warning', onWarning);
    const saved = process.env.REDIS_URL;
    delete process.env.REDIS_URL;
    try {
      const app = new Koa();
      app.keys = ['memory-test-key'];
      const sessions = redisSession(app);
      assert.ok(sessions.store instanceof MemoryStore);
      new MemoryStore();
      redisSession(Object.assign(new Koa(), { keys: ['k'] }));
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.message, /development/);
      assert.match(warnings[0]!.message, /vanish when the process restarts/);
      assert.match(warnings[0]!.message, /not shared between processes/);

      app.use(sessions);
      app.use((c) => {
        if (c.path === '/login') c.session.user = 'carol';
        c.body = { user: c.session.user ?? null };
      });
      const served = await serve(app);
      try {
        const jar = new Jar();
        await jar.fetch(served.url('/login'));
        assert.deepEqual(await (await jar.fetch(served.url('/me'))).json(), { user: 'carol' });
      } finally {
        await served.close();
        await sessions.close();
      }
    } finally {
      process.env.REDIS_URL = saved;
      process.off('warning', onWarning);
    }
  });

  it('stores copies, expires them after maxAge, and forgets destroyed ones', async () => {
    const store = new MemoryStore();
    const data = { user: { sub: 'dave' } };
    await store.set('a', data, 50, { changed: true, rolling: false, ctx });
    data.user.sub = 'changed after set';
    const read = await store.get('a', 50, { rolling: false, ctx });
    assert.deepEqual(read, { user: { sub: 'dave' } });
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await store.get('a', 50, { rolling: false, ctx }), undefined);

    await store.set('b', data, 60_000, { changed: true, rolling: false, ctx });
    await store.destroy('b', { ctx });
    assert.equal(await store.get('b', 60_000, { rolling: false, ctx }), undefined);
  });

  it("keeps a maxAge 'session' session for sessionTtl", async () => {
    const store = new MemoryStore({ sessionTtl: 50 });
    await store.set('s', { a: 1 }, 'session', { changed: true, rolling: false, ctx });
    assert.deepEqual(await store.get('s', 'session', { rolling: false, ctx }), { a: 1 });
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await store.get('s', 'session', { rolling: false, ctx }), undefined);
  });

  it('rejects a bad option with a TypeError naming it', () => {
    assert.throws(() => new MemoryStore({ sessionTtl: 0 }), { name: 'TypeError', message: '"sessionTtl" must be a positive number of milliseconds' });
    assert.throws(() => new MemoryStore({ prefix: 'x' } as object), { name: 'TypeError', message: 'MemoryStore: unknown option "prefix"' });
  });
});
