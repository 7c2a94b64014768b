/** examples/koa-redis: the README's koa-redis line, compiled as is, keeps a real login in Redis. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createKoaRedisApp } from '../../examples/koa-redis/app.js';
import { startDevProvider } from '../../src/dev-provider/index.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';

test('examples/koa-redis: a login through the dev provider, the session kept by koa-redis', async () => {
  let handler: ((req: never, res: never) => void) | undefined;
  const server = createServer((req, res) => handler!(req as never, res as never));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const op = await startDevProvider({
    clients: [{ client_id: 'koa-redis-app', client_secret: 'koa-redis-secret', redirect_uris: [`${base}/openid/sso/auth`], grant_types: ['authorization_code'] }],
  });
  const example = createKoaRedisApp({
    redisUrl: redisUrl(),
    sessionSecret: 'example-secret',
    configuration: `${op.issuer}/.well-known/openid-configuration`,
    clientId: 'koa-redis-app',
    clientSecret: 'koa-redis-secret',
    baseUrl: base,
    allowInsecureRequests: true,
  });
  handler = example.app.callback() as never;
  const redis = new Redis(redisUrl());
  try {
    const b = new Browser();
    const { response } = await b.follow(`${base}/`, { headers: { accept: 'text/html' } });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'Hello alice');
    // koa-redis keys sessions by the bare id (no prefix of ours): the cookie's id is a Redis key.
    const id = b.cookies(base)['koa.sess']!;
    const stored = JSON.parse((await redis.get(id)) ?? 'null') as { openid?: { sso?: { claims: { sub: string } } } } | null;
    assert.equal(stored?.openid?.sso?.claims.sub, 'alice');
  } finally {
    redis.disconnect();
    server.closeAllConnections();
    server.close();
    await example.close();
    await op.close();
  }
});
