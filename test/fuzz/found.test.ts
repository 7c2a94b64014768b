/**
 * What the property-based tests of this folder found in the library, as plain examples that run
 * the same way every time (the properties meet them only with more runs than the default):
 *
 * - A callback with its real state, code and iss plus an empty or any `token` parameter, or a
 *   `response` parameter (JARM), is answered 502 `provider_unavailable` ("the provider could not be
 *   reached or sent an invalid answer (token request)") and emitted as a Koa `error` event, while
 *   the provider was never asked: openid-client refuses the parameters before the token request,
 *   and that refusal falls through to "unavailable". Anyone can do it with a login of their own.
 * - A bearer JWT signed by the provider whose `sub` is no string (an object, a number, null, an
 *   array) or empty is accepted: `ctx.state.user.sub` is then that value. RFC 9068 §2.2 and
 *   RFC 7519 §4.1.2 want a string, and logout tokens already get that check.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompactSign } from 'jose';
import { CLIENT_ID, COOKIE, header, providerRedirect, rawGet, rawRequest, setCookie, startFuzzApp, type FuzzApp } from './harness.js';

let fx: FuzzApp;
before(async () => {
  fx = await startFuzzApp();
});
after(() => fx.close());

/** Starts a login at `provider` and returns the session cookie and the provider's answer (state, code, iss). */
async function started(provider: 'hostile' | 'formpost'): Promise<{ cookie: string; fields: URLSearchParams }> {
  const start = await rawGet(fx.port, `/openid/${provider}/login?returnTo=%2Fdone`);
  assert.equal(start.status, 302, start.text);
  const back = await providerRedirect(header(start, 'location')!);
  return { cookie: `${COOKIE}=${setCookie(start, COOKIE)}`, fields: back.fields };
}

for (const extra of ['token=', 'token=x', 'response=x']) {
  test(`a callback with its state and code plus "${extra}" is refused as the request's fault (400), not a 502 of the provider`, async () => {
    for (const provider of ['hostile', 'formpost'] as const) {
      const { cookie, fields } = await started(provider);
      const tokenRequests = fx.op.tokenRequests.length;
      const params = `${fields.toString()}&${extra}`;
      const res =
        provider === 'hostile'
          ? await rawGet(fx.port, `/openid/hostile/auth?${params}`, [['Cookie', cookie]])
          : await rawRequest(fx.port, { method: 'POST', target: '/openid/formpost/auth', headers: [['Cookie', cookie], ['Content-Type', 'application/x-www-form-urlencoded']], body: params });
      assert.equal(fx.op.tokenRequests.length, tokenRequests, 'the provider was not asked');
      const errors = fx.errors.splice(0);
      assert.equal(res.status, 400, `${provider}: ${res.text}`);
      assert.equal(JSON.parse(res.body).error, 'invalid_request');
      assert.deepEqual(errors, [], 'no Koa error event (no outage to report)');
    }
  });
}

for (const [label, sub] of [['an object', {}], ['a number', 123], ['null', null], ['an array', ['alice']], ['empty', '']] as const) {
  test(`a bearer JWT signed by the provider whose sub is ${label} is refused (401 invalid_token)`, async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: fx.op.issuer, aud: CLIENT_ID, sub, iat: now, exp: now + 300, scope: 'openid', client_id: CLIENT_ID };
    const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: fx.op.keys.current.alg, kid: fx.op.keys.current.kid, typ: 'at+jwt' })
      .sign(fx.op.keys.current.privateKey);
    const res = await rawRequest(fx.port, { target: '/api/bearer', headers: [['Authorization', `Bearer ${token}`]] });
    assert.equal(res.status, 401, res.text);
    assert.equal(JSON.parse(res.body).error, 'invalid_token');
  });
}
