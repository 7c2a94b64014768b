import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveOptions } from '../src/options.js';

const base = { name: 'kc', clientId: 'app', configuration: 'https://kc.example/realms/x/.well-known/openid-configuration' };

test('defaults', () => {
  const o = resolveOptions(base);
  assert.equal(o.routeLogin, '/openid/kc/login');
  assert.equal(o.routeAuth, '/openid/kc/auth');
  assert.deepEqual(o.scopes, ['openid', 'profile', 'email']);
  assert.equal(o.allowInsecureRequests, false);
  assert.equal(o.timeout, 5);
  assert.equal(o.loginTimeout, 600);
});

test('openid is always requested', () => {
  assert.deepEqual(resolveOptions({ ...base, scopes: ['profile'] }).scopes, ['openid', 'profile']);
});

test('bad options are TypeErrors naming the option', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, clientId: undefined }, /"clientId" is required/],
    [{ ...base, name: 'no spaces' }, /"name"/],
    [{ ...base, routeAuth: 'auth' }, /"routeAuth" must start with "\/"/],
    [{ ...base, routeLogin: '/same', routeAuth: '/same' }, /must differ/],
    [{ ...base, configuration: 'http://kc.example/.well-known/openid-configuration' }, /"configuration" must be an https URL/],
    [{ ...base, baseUrl: 'https://app.example/path' }, /"baseUrl" must be an origin/],
    [{ ...base, timeout: -1 }, /"timeout"/],
    [{ ...base, idTokenAlgorithms: ['HS256'] }, /"idTokenAlgorithms.0" only asymmetric/],
    [{ ...base, idTokenAlgorithms: ['none'] }, /"idTokenAlgorithms.0"/],
    [{ ...base, tokenEndpointAuthMethod: 'client_secret_basic' }, /needs "clientSecret"/],
    [{ ...base, authorizationParams: { state: 'x' } }, /"authorizationParams.state" is set by the library/],
    [{ ...base, handleUserLogin: 'nope' }, /"handleUserLogin" must be a function/],
    [{ ...base, clientSecrett: 'typo' }, /unknown option "clientSecrett"/],
    [{ ...base, authorizationParams: { max_age: '0' } }, /"authorizationParams.max_age" is set by the library/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => resolveOptions(input), (err: Error) => err instanceof TypeError && message.test(err.message), JSON.stringify(input));
  }
});

test('http providers are allowed only when asked', () => {
  assert.equal(resolveOptions({ ...base, configuration: 'http://127.0.0.1:9/.well-known/openid-configuration', allowInsecureRequests: true }).allowInsecureRequests, true);
});
