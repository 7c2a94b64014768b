import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Koa from 'koa';
import { MemoryStore, redisSession } from '../../src/session/index.js';
import { Jar, serve } from './http.js';

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
});
