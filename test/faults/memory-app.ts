/**
 * The app process of test/faults/memory.test.ts: redisSession on the Redis the parent names, one
 * OpenID provider (the parent's hostile provider), and a guarded page. Run with `--expose-gc` and an
 * IPC channel (`fork`): it sends `{ port }` once listening; on `'measure'` it runs full garbage
 * collections and answers `{ rss, heapUsed }` (bytes). It exits when the parent goes away.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { OpenID, redisSession } from '../../src/index.js';

const { MEMORY_APP_REDIS: redis, MEMORY_APP_DISCOVERY: discovery } = process.env;
if (!redis || !discovery || !process.send) throw new Error('memory-app: run me with fork() from test/faults/memory.test.ts');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('memory-app: run me with --expose-gc');

const app = new Koa();
app.silent = true;
app.use(redisSession(app, { redis }));
const openid = new OpenID(app, {
  name: 'op',
  clientId: 'memory-client',
  clientSecret: 'memory-secret-value-0123456789abcdef',
  configuration: discovery,
  allowInsecureRequests: true,
});
app.use(openid.required({ redirect: false }));
app.use((ctx) => {
  ctx.body = { sub: ctx.state.user!.sub };
});

const server = createServer(app.callback());
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message !== 'measure') return;
  // Several full collections (the first ones may leave work for finalizers), then the reading.
  for (let i = 0; i < 3; i++) gc();
  const { rss, heapUsed } = process.memoryUsage();
  process.send!({ rss, heapUsed });
});
