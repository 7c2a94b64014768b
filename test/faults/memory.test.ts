/**
 * Memory: the resident set of an app process (test/faults/memory-app.ts: redisSession, one
 * provider, a guarded page) after 10k and after 100k guarded requests by logged-in users, each read
 * after full garbage collections, must be within 10% (and so must the JavaScript heap): nothing a
 * request leaves behind piles up.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import autocannon from 'autocannon';
import { startHostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { startOwnRedis } from '../support/redis.js';

const USERS = 50;
const CONNECTIONS = 50;

interface Memory {
  rss: number;
  heapUsed: number;
}

function measure(child: ChildProcess): Promise<Memory> {
  const answer = once(child, 'message') as Promise<[Memory]>;
  child.send('measure');
  return answer.then(([memory]) => memory);
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

test('the RSS of an app process after 10k and after 100k guarded requests (after a full GC) is within 10%', { timeout: 90_000 }, async () => {
  const redis = await startOwnRedis();
  const op = await startHostileProvider({ clientId: 'memory-client', alg: 'ES256' });
  const child = fork(new URL('./memory-app.ts', import.meta.url).pathname, {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, MEMORY_APP_REDIS: redis.url, MEMORY_APP_DISCOVERY: op.discoveryUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [{ port }] = (await once(child, 'message')) as [{ port: number }];
    const base = `http://127.0.0.1:${port}`;
    const cookies = await Promise.all(
      Array.from({ length: USERS }, async () => {
        const browser = new Browser();
        const { response } = await browser.follow(`${base}/openid/op/login?returnTo=/me`, { headers: { accept: 'application/json' } });
        assert.deepEqual(await response.json(), { sub: 'alice' });
        return browser.cookieHeader(`${base}/me`);
      }),
    );
    const requests = cookies.map((cookie) => ({ method: 'GET' as const, path: '/me', headers: { accept: 'application/json', cookie } }));
    const run = async (amount: number) => {
      const result = await autocannon({ url: base, connections: CONNECTIONS, amount, requests });
      assert.equal(result.non2xx + result.errors + result.timeouts, 0, `every guarded request answered 200 (${result.non2xx} non-2xx, ${result.errors} errors)`);
      return result;
    };
    const started = performance.now();
    await run(10_000);
    const after10k = await measure(child);
    const rest = await run(90_000);
    const after100k = await measure(child);
    const growth = after100k.rss / after10k.rss;
    const heapGrowth = after100k.heapUsed / after10k.heapUsed;
    console.log(
      `memory: RSS after 10k guarded requests ${mb(after10k.rss)} MB (heap ${mb(after10k.heapUsed)} MB), after 100k ${mb(after100k.rss)} MB ` +
        `(heap ${mb(after100k.heapUsed)} MB): RSS ×${growth.toFixed(3)}, heap ×${heapGrowth.toFixed(3)}; ${rest.requests.average.toFixed(0)} req/s, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.ok(growth <= 1.1, `RSS grew ×${growth.toFixed(3)} from 10k to 100k requests`);
    // The JavaScript heap alone is the finer reading (a leak of ~25 bytes per request shows there).
    assert.ok(heapGrowth <= 1.1, `the heap grew ×${heapGrowth.toFixed(3)} from 10k to 100k requests`);
  } finally {
    child.kill();
    await op.close();
    await redis.close();
  }
});
