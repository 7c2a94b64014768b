import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startDevProvider } from '../../src/dev-provider/index.js';
import { expectedIssuer } from '../../src/provider/discovery.js';
import { OpenID } from '../../src/index.js';
import { startHostileApp } from '../support/hostile-app.js';
import { Browser } from '../support/http-client.js';
import { login, startFixture } from '../support/fixture.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('the expected issuer is the discovery URL without its well-known suffix', () => {
  assert.equal(expectedIssuer('https://kc.example/realms/x/.well-known/openid-configuration'), 'https://kc.example/realms/x');
  assert.equal(expectedIssuer('https://op.example/.well-known/openid-configuration'), 'https://op.example');
  assert.equal(expectedIssuer('https://as.example/.well-known/oauth-authorization-server/tenant'), 'https://as.example/tenant');
  assert.equal(expectedIssuer('https://op.example/tenant'), 'https://op.example/tenant');
});

test('a provider that is down at startup answers 503, and works once it is up', async () => {
  const port = await freePort();
  const fx = await startFixture([{ name: 'late', options: { configuration: `http://127.0.0.1:${port}/.well-known/openid-configuration`, timeout: 2, jwksCooldown: 0.2 } }]);
  try {
    const b = fx.browser();
    const down = await b.get(`${fx.base}/openid/late/login`, { headers: { accept: 'application/json' } });
    assert.equal(down.status, 503);
    const body = await down.json();
    assert.equal(body.error, 'discovery_failed');
    assert.match(body.error_description, /"late"/);

    const op = await startDevProvider({
      port,
      clients: [{ client_id: 'late-app', client_secret: 'late-secret-value', redirect_uris: [`${fx.base}/openid/late/auth`] }],
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 250)); // the failure is remembered for jwksCooldown
      const done = await login(b, fx, 'late', '/welcome');
      assert.equal(new URL(done.url).pathname, '/welcome');
    } finally {
      await op.close();
    }
  } finally {
    await fx.close();
  }
});

test('the client authenticates as the provider registered it', async () => {
  const fx = await startFixture([
    { name: 'basic', client: { token_endpoint_auth_method: 'client_secret_basic' } },
    { name: 'post', client: { token_endpoint_auth_method: 'client_secret_post' }, options: { tokenEndpointAuthMethod: 'client_secret_post' } },
    { name: 'public', client: { token_endpoint_auth_method: 'none', client_secret: undefined }, options: { clientSecret: undefined } },
  ]);
  try {
    for (const name of ['basic', 'post', 'public']) {
      const done = await login(fx.browser(), fx, name, '/ok');
      assert.equal(new URL(done.url).pathname, '/ok', `${name}: ${done.body}`);
    }
  } finally {
    await fx.close();
  }
});

test('client_secret_basic when the provider lists it; the choice can be forced', async () => {
  const fx = await startHostileApp({}, (app, openid) => {
    const { name: _name, ...rest } = openid.options;
    new OpenID(app, { ...rest, clientSecret: openid.options.clientSecret, name: 'forced', routeLogin: undefined, routeAuth: undefined, routeBackchannelLogout: undefined, routeLogout: undefined, routeLoggedOut: undefined, routeFrontchannelLogout: undefined, tokenEndpointAuthMethod: 'client_secret_post' });
  });
  try {
    await fx.login();
    const basic = fx.op.tokenRequests.at(-1)!;
    assert.match(basic.headers.authorization ?? '', /^Basic /);
    assert.equal(basic.body.get('client_secret'), null);

    await new Browser().follow(`${fx.base}/openid/forced/login`);
    const post = fx.op.tokenRequests.at(-1)!;
    assert.equal(post.headers.authorization, undefined);
    assert.equal(post.body.get('client_secret'), 'hostile-secret-value-0123456789abcdef');
  } finally {
    await fx.close();
  }
});

test('client_secret_post when the provider does not list basic', async () => {
  const fx = await startHostileApp();
  fx.op.discovery.token_endpoint_auth_methods_supported = ['client_secret_post'];
  try {
    await fx.login();
    const request = fx.op.tokenRequests.at(-1)!;
    assert.equal(request.headers.authorization, undefined);
    assert.equal(request.body.get('client_secret'), 'hostile-secret-value-0123456789abcdef');
  } finally {
    await fx.close();
  }
});
