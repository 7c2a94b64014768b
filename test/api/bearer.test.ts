/**
 * `provider.bearer()` and `provider.required({ bearer })` on a real Koa server against the hostile
 * provider: every RFC 6750 answer (status, `WWW-Authenticate`, JSON code), JWT and RFC 7662
 * introspection checks, the verified-token cache, and that no token, claim or secret is echoed.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import Router from '@koa/router';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import Koa from 'koa';
import type { Context } from 'koa';

import { OpenID } from '../../src/index.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { tamperSignature, type Alg, type Answer as ProviderAnswer, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';

const CLIENT_ID = 'hostile-client';
const CLIENT_SECRET = 'hostile-secret-value-0123456789abcdef';
const now = () => Math.floor(Date.now() / 1000);
const utf8 = (text: string) => new TextEncoder().encode(text);
const jti = () => randomBytes(9).toString('base64url');

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: Record<string, any> | undefined;
  /** `WWW-Authenticate`, when sent. */
  challenge: string | undefined;
}

/**
 * A GET with node:http (not fetch), so that a test can send any header bytes and repeat a header:
 * `authorization` as an array sends one header line per element.
 */
function call(base: string, path: string, authorization?: string | string[], headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // "Authorization" (not a key OutgoingHttpHeaders types as a string) may be an array: several lines.
    const all: OutgoingHttpHeaders = { ...headers, ...(authorization === undefined ? {} : { Authorization: authorization }) };
    const req = request(`${base}${path}`, { headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, any> | undefined;
        try {
          body = JSON.parse(text) as Record<string, any>;
        } catch {
          body = undefined;
        }
        const header = res.headers['www-authenticate'];
        const challenge = Array.isArray(header) ? header.join('\n') : header;
        resolve({ status: res.statusCode!, headers: res.headers, text, body, challenge });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const DESCRIPTION = 'error_description="[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+"';

/** 401 (or 403) with an RFC 6750 §3 challenge of `error`, and the same code in the JSON body. */
function assertRefused(res: Reply, status: 401 | 403, error: 'invalid_token' | 'invalid_request' | 'insufficient_scope', scope?: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body?.error, error, res.text);
  assert.equal(typeof res.body?.error_description, 'string');
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const scopePart = scope === undefined ? '' : `, scope="${scope}"`;
  assert.match(res.challenge ?? '(none)', new RegExp(`^Bearer realm="hostile", error="${error}", ${DESCRIPTION}${scopePart}$`));
}

/** The provider failed (not the caller's token): 5xx `provider_unavailable`, no bearer challenge. */
function assertProviderFailed(res: Reply) {
  assert.ok([502, 503, 504].includes(res.status), `status ${res.status}: ${res.text}`);
  assert.equal(res.body?.error, 'provider_unavailable', res.text);
  assert.equal(res.challenge, undefined);
}

function assertOk(res: Reply, sub = 'alice') {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body?.openid?.token, 'bearer');
  assert.equal(res.body?.user?.sub, sub);
  assert.equal(res.challenge, undefined);
}

/** An RFC 9068-shaped access token for the hostile client, signed with the current key. */
function accessToken(op: HostileProvider, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key?: CryptoKey | Uint8Array) {
  return op.sign(
    { iss: op.issuer, aud: CLIENT_ID, sub: 'alice', client_id: CLIENT_ID, scope: 'read', iat: now(), exp: now() + 300, jti: jti(), ...claims },
    { typ: 'at+jwt', ...header },
    key,
  );
}

/** The current public key as PEM (what a key-confusion attacker uses as an HMAC secret). */
function publicPem(op: HostileProvider): Uint8Array {
  return utf8(String(createPublicKey({ key: op.keys.current.publicJwk as Required<JWK> & { kty: string }, format: 'jwk' }).export({ type: 'spki', format: 'pem' })));
}

type TokenFn = (claims?: Record<string, unknown>, header?: Record<string, unknown>, key?: CryptoKey | Uint8Array) => Promise<string>;

const show = (ctx: Context) => {
  ctx.body = { user: ctx.state.user, openid: ctx.state.openid };
};

describe('bearer() on a real server', () => {
  let fx: HostileApp;
  let op: HostileProvider;
  const get = (path: string, authorization?: string | string[], headers?: Record<string, string>) => call(fx.base, path, authorization, headers);
  const token: TokenFn = (claims, header, key) => accessToken(op, claims, header, key);
  /** Captured by the token endpoint: the opaque access token of the last session login. */
  let sessionAccessToken: string | undefined;

  before(async () => {
    fx = await startHostileApp({ scopes: ['openid'], timeout: 1 }, (app, openid) => {
      const router = new Router();
      router.get('/api/any', openid.bearer(), show);
      router.get('/api/strict', openid.bearer({ clockTolerance: 0 }), show);
      router.get('/api/read-write', openid.bearer({ scopes: ['read', 'write'] }), show);
      router.get('/api/orders', openid.bearer({ audience: 'orders-api' }), show);
      router.get('/api/orders-or-billing', openid.bearer({ audience: ['billing-api', 'orders-api'] }), show);
      router.get('/api/tenant', openid.bearer({ check: (claims, ctx) => claims.tenant === ctx.get('x-tenant') }), show);
      router.get('/api/hs256', openid.bearer({ algorithms: ['HS256'] }), show);
      router.get('/api/hs256-rs256', openid.bearer({ algorithms: ['HS256', 'RS256'] }), show);
      router.get('/api/introspect-all', openid.bearer({ introspection: true }), show);
      router.get('/api/jwt-only', openid.bearer({ introspection: false }), show);
      router.get('/api/short-cache', openid.bearer({ cacheMaxAge: 0.3 }), show);
      // Answers without echoing the claims (some tests send claims that JSON.stringify cannot print).
      router.get('/api/sub', openid.bearer(), (ctx) => {
        ctx.body = { user: { sub: ctx.state.user!.sub }, openid: { token: ctx.state.openid!.token, frozen: Object.isFrozen(ctx.state.user) } };
      });
      router.get('/api/mixed', openid.required({ bearer: true, redirect: false }), show);
      router.get('/api/mixed-admin', openid.required({ bearer: { scopes: ['admin'] }, redirect: false }), show);
      // One verifier (one cache) behind two routes: the first one changes ctx.state.
      const shared = openid.bearer();
      router.get('/shared/enrich', shared, (ctx) => {
        ctx.state.openid!.scopes.push('admin');
        ctx.state.user!.sub = 'mallory';
        (ctx.state.user as Record<string, unknown>).roles = ['admin'];
        ctx.body = 'ok';
      });
      router.get('/shared/me', shared, show);
      app.use(router.routes());
    });
    op = fx.op;
    op.onToken(async (ctx) => {
      sessionAccessToken = ctx.accessToken;
      return op.tokenAnswer(ctx);
    });
  });
  after(() => fx.close());

  describe('success', () => {
    test('a valid RS256 JWT: 200, ctx.state.user is the claims, ctx.state.openid has the session shape with token "bearer"', async () => {
      const exp = now() + 300;
      const jwt = await token({ scope: 'openid read', exp, email: 'alice@example.com' });
      const res = await get('/api/any', `Bearer ${jwt}`);
      assertOk(res);
      const claims = res.body!.user;
      assert.equal(claims.email, 'alice@example.com');
      assert.deepEqual(res.body!.openid, { provider: 'hostile', claims, scopes: ['openid', 'read'], expiresAt: exp, token: 'bearer' });
    });

    test('scopes come from "scope" and from "scp" (string or array); all required scopes must be there', async () => {
      for (const claims of [{ scope: 'read write' }, { scope: undefined, scp: ['read', 'write'] }, { scope: undefined, scp: 'write read' }, { scope: 'read', scp: ['write'] }]) {
        const res = await get('/api/read-write', `Bearer ${await token(claims)}`);
        assertOk(res);
        assert.deepEqual([...res.body!.openid.scopes].sort(), ['read', 'write'], JSON.stringify(claims));
      }
    });

    test('the header "typ" of an access token: at+jwt, application/at+jwt, JWT (any case), or none', async () => {
      for (const typ of ['at+jwt', 'application/at+jwt', 'JWT', 'jwt', undefined]) assertOk(await get('/api/any', `Bearer ${await token({}, { typ })}`));
    });

    test('the scheme is case-insensitive and may be followed by several spaces', async () => {
      const jwt = await token();
      for (const header of [`bearer ${jwt}`, `BEARER ${jwt}`, `Bearer   ${jwt}`]) assertOk(await get('/api/any', header));
    });
  });

  describe('RFC 6750 answers', () => {
    test('no Authorization header: 401, a challenge without error attributes (RFC 6750 §3.1), JSON invalid_token', async () => {
      const res = await get('/api/any');
      assert.equal(res.status, 401);
      assert.equal(res.challenge, 'Bearer realm="hostile"');
      assert.equal(res.body?.error, 'invalid_token');
      assert.equal(res.headers['cache-control'], 'no-store');
    });

    const invalid: Array<[string, (t: TokenFn) => Promise<string> | string, string?]> = [
      ['another issuer', (t) => t({ iss: 'https://evil.example' })],
      ['the issuer with a trailing slash', (t) => t({ iss: `${op.issuer}/` })],
      ['another audience', (t) => t({ aud: 'someone-else' })],
      ['an audience list without the client', (t) => t({ aud: ['a', 'b'] })],
      ['expired (beyond the clock tolerance)', (t) => t({ exp: now() - 120, iat: now() - 600 })],
      ['"nbf" in the future (beyond the clock tolerance)', (t) => t({ nbf: now() + 120 })],
      ['no "exp"', (t) => t({ exp: undefined })],
      ['alg "none"', (t) => t({}, { alg: 'none' })],
      ['alg "none" with a signature part', async (t) => `${(await t({}, { alg: 'none' })).slice(0, -1)}.c2ln`],
      ['a tampered signature', async (t) => tamperSignature(await t())],
      ['a tampered payload', async (t) => {
        const [h, , s] = (await t()).split('.');
        return `${h}.${Buffer.from(JSON.stringify({ iss: 'x', aud: CLIENT_ID, sub: 'admin', exp: now() + 300 })).toString('base64url')}.${s}`;
      }],
      ['an unknown "kid"', (t) => t({}, { kid: 'no-such-kid' })],
      ['a "kid" that is an object without toString (no 500 from building a lookup key)', async (t) => {
        const [, p, s] = (await t()).split('.');
        return `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: { toString: null } })).toString('base64url')}.${p}.${s}`;
      }],
      ['a "kid" that is an array holding the right kid', async (t) => {
        const [, p, s] = (await t()).split('.');
        return `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: [op.keys.current.kid] })).toString('base64url')}.${p}.${s}`;
      }],
      ['a signature by an unknown key under the provider\'s "kid"', async (t) => t({}, {}, (await generateKeyPair('RS256')).privateKey)],
      ['an ID token (it carries a nonce)', (t) => t({ nonce: 'n-0S6_WzA2Mj', auth_time: now(), scope: undefined }, { typ: 'JWT' })],
      ...(['logout+jwt', 'dpop+jwt', 'secevent+jwt', 'application/id_token+jwt'] as const).map(
        (typ): [string, (t: TokenFn) => Promise<string>] => [`a JWT typed "${typ}" (RFC 8725 §3.11)`, (t) => t({}, { typ })],
      ),
      ['a JWE-shaped token (5 parts)', () => `${Buffer.from('{"alg":"RSA-OAEP","enc":"A256GCM"}').toString('base64url')}.a.b.c.d`],
      ['an opaque token on a route that only takes JWTs', () => op.issueAccessToken({ scope: 'read' }), '/api/jwt-only'],
    ];
    for (const [what, make, path = '/api/any'] of invalid) {
      test(`${what}: 401 invalid_token`, async () => {
        const jwt = await make(token);
        assertRefused(await get(path, `Bearer ${jwt}`), 401, 'invalid_token');
      });
    }

    test('HS256 key confusion: an HMAC keyed with the RSA public key is refused, even where HS256 is allowed', async () => {
      for (const secret of [publicPem(op), utf8(JSON.stringify(op.keys.current.publicJwk))]) {
        const jwt = await token({}, { alg: 'HS256' }, secret);
        for (const path of ['/api/any', '/api/hs256', '/api/hs256-rs256']) assertRefused(await get(path, `Bearer ${jwt}`), 401, 'invalid_token');
      }
    });

    test('HS256 only when configured: with the client secret it passes there, and nowhere else', async () => {
      const jwt = await token({}, { alg: 'HS256', kid: undefined }, utf8(CLIENT_SECRET));
      assertOk(await get('/api/hs256', `Bearer ${jwt}`));
      assertOk(await get('/api/hs256-rs256', `Bearer ${jwt}`));
      assertRefused(await get('/api/any', `Bearer ${jwt}`), 401, 'invalid_token');
      assertRefused(await get('/api/hs256', `Bearer ${await token()}`), 401, 'invalid_token');
      assertOk(await get('/api/hs256-rs256', `Bearer ${await token()}`));
    });

    const malformed: Array<[string, string | string[]]> = [
      ['"Bearer" without a token', 'Bearer'],
      ['two tokens', 'Bearer TOKEN TOKEN'],
      ['two credentials in one header', 'Bearer TOKEN, Bearer TOKEN'],
      ['two Authorization headers', ['Bearer TOKEN', 'Bearer TOKEN']],
      ['a quoted token', 'Bearer "TOKEN"'],
      ['a tab instead of a space', 'Bearer\tTOKEN'],
      ['a Latin-1 byte in the token', 'Bearer TOKEN\u00e9'],
    ];
    for (const [what, header] of malformed) {
      test(`malformed header, ${what}: 401 invalid_request, never a 500`, async () => {
        const jwt = await token();
        const value = Array.isArray(header) ? header.map((h) => h.replace(/TOKEN/g, jwt)) : header.replace(/TOKEN/g, jwt);
        for (const path of ['/api/any', '/api/mixed']) assertRefused(await get(path, value), 401, 'invalid_request');
      });
    }

    test('another scheme (Basic, Digest) or an empty header is no bearer token: 401 without error attributes; a session still counts', async () => {
      for (const header of ['Basic dXNlcjpwYXNz', 'Digest username="u", response="r"', 'BearerABC', '']) {
        const res = await get('/api/any', header);
        assert.equal(res.status, 401, res.text);
        assert.equal(res.challenge, 'Bearer realm="hostile"');
        assert.equal(res.body?.error, 'invalid_token');
      }
    });

    test('a token in the query string (RFC 6750 §2.3): 401 invalid_request, with or without a valid header', async () => {
      const jwt = await token();
      assertRefused(await get(`/api/any?access_token=${jwt}`), 401, 'invalid_request');
      assertRefused(await get(`/api/any?x=1&access_token=${jwt}`, `Bearer ${jwt}`), 401, 'invalid_request');
    });

    test('a missing scope: 403 insufficient_scope naming the required scopes', async () => {
      for (const claims of [{ scope: 'read' }, { scope: undefined }, { scope: 'READ WRITE' }, { scp: 'read' }]) {
        assertRefused(await get('/api/read-write', `Bearer ${await token(claims)}`), 403, 'insufficient_scope', 'read write');
      }
    });
  });

  describe('options', () => {
    test('"audience": one of the expected audiences must be in "aud"', async () => {
      assertOk(await get('/api/orders', `Bearer ${await token({ aud: 'orders-api' })}`));
      assertOk(await get('/api/orders', `Bearer ${await token({ aud: ['other', 'orders-api'] })}`));
      assertOk(await get('/api/orders-or-billing', `Bearer ${await token({ aud: 'billing-api' })}`));
      assertRefused(await get('/api/orders', `Bearer ${await token()}`), 401, 'invalid_token');
      assertRefused(await get('/api/any', `Bearer ${await token({ aud: 'orders-api' })}`), 401, 'invalid_token');
    });

    test('"clockTolerance": expired 10 s ago passes with the default 30 s, not with 0', async () => {
      const jwt = await token({ exp: now() - 10, iat: now() - 300 });
      assertOk(await get('/api/any', `Bearer ${jwt}`));
      assertRefused(await get('/api/strict', `Bearer ${jwt}`), 401, 'invalid_token');
      const early = await token({ nbf: now() + 10 });
      assertOk(await get('/api/any', `Bearer ${early}`));
      assertRefused(await get('/api/strict', `Bearer ${early}`), 401, 'invalid_token');
    });

    test('"check(claims, ctx)" returning false: 401 invalid_token (also on a cache hit)', async () => {
      const jwt = await token({ tenant: 'acme' });
      assertOk(await get('/api/tenant', `Bearer ${jwt}`, { 'x-tenant': 'acme' }));
      assertRefused(await get('/api/tenant', `Bearer ${jwt}`, { 'x-tenant': 'globex' }), 401, 'invalid_token');
      assertRefused(await get('/api/tenant', `Bearer ${jwt}`), 401, 'invalid_token');
      assertOk(await get('/api/tenant', `Bearer ${jwt}`, { 'x-tenant': 'acme' }));
    });

    test('misuse is a TypeError at setup: "none", empty or HMAC algorithms without a secret, bad scopes, check', () => {
      const openid = fx.openid;
      for (const options of [
        { algorithms: ['none'] },
        { algorithms: ['RS256', 'none'] },
        { algorithms: [] },
        { scopes: ['read write'] },
        { scopes: [''] },
        { check: 'yes' as unknown as () => boolean },
      ]) {
        assert.throws(() => openid.bearer(options), TypeError, JSON.stringify(options));
        assert.throws(() => openid.required({ bearer: options }), TypeError, JSON.stringify(options));
      }
      const publicClient = new OpenID(new Koa(), { name: 'public', clientId: 'p', configuration: op.discoveryUrl, allowInsecureRequests: true, routes: false });
      assert.throws(() => publicClient.bearer({ algorithms: ['HS256'] }), TypeError);
      // RFC 7518 §3.2: the HMAC key is at least as long as the hash.
      const shortSecret = new OpenID(new Koa(), { name: 'short', clientId: 's', clientSecret: 'x'.repeat(31), configuration: op.discoveryUrl, allowInsecureRequests: true, routes: false });
      assert.throws(() => shortSecret.bearer({ algorithms: ['HS256'] }), /at least 32 bytes/);
      assert.doesNotThrow(() => shortSecret.bearer({ algorithms: ['RS256'] }));
      assert.throws(() => openid.bearer({ algorithms: ['HS512'] }), /at least 64 bytes/);
      assert.doesNotThrow(() => openid.bearer({ algorithms: ['HS256'] }));
    });

    test('cache and clock options are validated at setup (NaN would keep tokens forever or unbound the cache)', () => {
      for (const options of [
        { cacheMaxAge: Number.NaN },
        { cacheMaxAge: '1m' as unknown as number },
        { cacheMaxAge: -1 },
        { cacheMaxEntries: Number.NaN },
        { cacheMaxEntries: 1.5 },
        { clockTolerance: Number.NaN },
        { clockTolerance: -5 },
      ]) {
        assert.throws(() => fx.openid.bearer(options), TypeError, JSON.stringify(options));
      }
    });
  });

  describe('keys', () => {
    test('a rotated key is accepted (the JWKS is fetched again); an unknown "kid" stays refused', async () => {
      assertOk(await get('/api/any', `Bearer ${await token()}`));
      const fetches = op.jwksRequests;
      await op.keys.rotate();
      assertOk(await get('/api/any', `Bearer ${await token()}`));
      assert.equal(op.jwksRequests, fetches + 1);
      assertRefused(await get('/api/any', `Bearer ${await token({}, { kid: 'still-unknown' })}`), 401, 'invalid_token');
    });

    test('the provider unreachable after the JWKS was fetched: new JWTs keep verifying from the cached keys', async () => {
      assertOk(await get('/api/any', `Bearer ${await token()}`));
      for (const outage of ['destroy', 503] as const) {
        op.outage = outage;
        op.down = true;
        try {
          // Never seen before (new jti): not in the token cache, only the keys are cached.
          assertOk(await get('/api/any', `Bearer ${await token()}`));
          assertOk(await get('/api/read-write', `Bearer ${await token({ scope: 'read write' })}`));
          assertRefused(await get('/api/any', `Bearer ${await token({ aud: 'nope' })}`), 401, 'invalid_token');
        } finally {
          op.down = false;
          op.outage = 'destroy';
        }
      }
    });
  });

  describe('ID tokens are not access tokens', () => {
    test('an ID token without a nonce (the refresh-flow shape: at_hash, auth_time, aud = client) is refused', async () => {
      const idToken = await op.sign({ iss: op.issuer, aud: CLIENT_ID, sub: 'alice', iat: now(), exp: now() + 300, auth_time: now() - 60, at_hash: 'x5iMXbfvbGyqEYGdIfgzxA' });
      assertRefused(await get('/api/any', `Bearer ${idToken}`), 401, 'invalid_token');
    });

    test('every signal counts, whatever a payload "typ" says', async () => {
      const base = { iss: op.issuer, aud: CLIENT_ID, sub: 'alice', iat: now(), exp: now() + 300 };
      for (const claims of [
        { typ: 'JWT', nonce: 'n-1' }, // a payload typ other than "ID" no longer hides the nonce
        { typ: 'Bearer', at_hash: 'x5iMXbfvbGyqEYGdIfgzxA' },
        { typ: 'Bearer', c_hash: 'x5iMXbfvbGyqEYGdIfgzxA' },
        { s_hash: 'x5iMXbfvbGyqEYGdIfgzxA' },
        { typ: 'ID' },
        { typ: 'Refresh' }, // Keycloak's other token kinds
        { typ: 'Logout' },
      ]) {
        assertRefused(await get('/api/any', `Bearer ${await op.sign({ ...base, ...claims }, { typ: 'JWT' })}`), 401, 'invalid_token');
      }
      // Keycloak before 25 copies the login's nonce into its access tokens, typed "Bearer".
      assertOk(await get('/api/any', `Bearer ${await op.sign({ ...base, typ: 'Bearer', nonce: 'n-2', scope: 'openid' }, { typ: 'JWT' })}`));
    });

    test('with the client id as audience a token must show it is an access token: an ID token without at_hash or nonce is refused', async () => {
      const base = { iss: op.issuer, aud: CLIENT_ID, sub: 'alice', iat: now(), exp: now() + 300 };
      // Entra ID's ID tokens from the token endpoint: no at_hash; after a refresh: no nonce.
      const idToken = await op.sign({ ...base, name: 'Alice', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', oid: 'o-1', ver: '2.0' }, { typ: 'JWT' });
      assertRefused(await get('/api/any', `Bearer ${idToken}`), 401, 'invalid_token');
      for (const signal of [{ scp: 'read' }, { scope: 'read' }, { client_id: CLIENT_ID }, { cid: 'c' }, { appid: 'a' }, { azpacr: '1' }, { appidacr: '1' }, { typ: 'Bearer' }]) {
        assertOk(await get('/api/any', `Bearer ${await op.sign({ ...base, ...signal }, { typ: 'JWT' })}`), 'alice');
      }
      assertOk(await get('/api/any', `Bearer ${await op.sign(base, { typ: 'at+jwt' })}`), 'alice');
      // An API audience of its own: ID tokens (aud = the client) cannot match it, no signal needed.
      assertOk(await get('/api/orders', `Bearer ${await op.sign({ ...base, aud: 'orders-api' }, { typ: 'JWT' })}`), 'alice');
    });

    test('an introspection answer about an ID or refresh token is refused, and the request hints access_token', async () => {
      const bodies: URLSearchParams[] = [];
      for (const extra of [{ typ: 'ID' }, { nonce: 'n-3' }, { typ: 'Refresh' }]) {
        op.onIntrospect((ctx) => {
          bodies.push(ctx.body);
          return { json: { ...ctx.answer, ...extra } };
        });
        try {
          assertRefused(await get('/api/any', `Bearer ${op.issueAccessToken()}`), 401, 'invalid_token');
        } finally {
          op.onIntrospect(undefined);
        }
      }
      assert.ok(bodies.length === 3 && bodies.every((b) => b.get('token_type_hint') === 'access_token'));
    });
  });

  test('a JWT access token without "sub" is refused (RFC 9068 §2.2)', async () => {
    assertRefused(await get('/api/any', `Bearer ${await token({ sub: undefined })}`), 401, 'invalid_token');
  });

  describe('RFC 7662 introspection', () => {
    let seen: Array<{ clientId: string; clientSecret: string | undefined }> = [];
    before(() => {
      op.onIntrospect((ctx) => {
        seen.push({ clientId: ctx.clientId, clientSecret: ctx.clientSecret });
        return { json: ctx.answer };
      });
    });
    after(() => op.onIntrospect(undefined));
    /** Makes the introspection endpoint answer `answer` for the next requests. */
    function answering(answer: ProviderAnswer | ((defaults: Record<string, unknown>) => Record<string, unknown>)) {
      op.onIntrospect((ctx) => (typeof answer === 'function' ? { json: answer(ctx.answer) } : answer));
    }
    const reset = () => op.onIntrospect(undefined);

    test('an opaque token the provider says is active: 200, asked once with the client credentials', async () => {
      seen = [];
      const opaque = op.issueAccessToken({ scope: 'read write', sub: 'bob' });
      const res = await get('/api/read-write', `Bearer ${opaque}`);
      assertOk(res, 'bob');
      assert.deepEqual(res.body!.openid.scopes, ['read', 'write']);
      assert.equal(res.body!.openid.provider, 'hostile');
      assert.deepEqual(seen, [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }]);
    });

    test('the same opaque token twice: one introspection request (cached)', async () => {
      const opaque = op.issueAccessToken({ scope: 'read' });
      const before = op.introspectionRequests;
      assertOk(await get('/api/any', `Bearer ${opaque}`));
      assertOk(await get('/api/any', `Bearer ${opaque}`));
      assert.equal(op.introspectionRequests, before + 1);
    });

    test('the cache is bounded by "cacheMaxAge" even when "exp" is far away', async () => {
      const opaque = op.issueAccessToken({ exp: now() + 3600 });
      const before = op.introspectionRequests;
      assertOk(await get('/api/short-cache', `Bearer ${opaque}`));
      assertOk(await get('/api/short-cache', `Bearer ${opaque}`));
      assert.equal(op.introspectionRequests, before + 1);
      await sleep(350);
      assertOk(await get('/api/short-cache', `Bearer ${opaque}`));
      assert.equal(op.introspectionRequests, before + 2);
    });

    test('inactive (an unknown token, an expired one): 401 invalid_token', async () => {
      for (const opaque of ['never-issued-token', op.issueAccessToken({ exp: now() - 1 })]) {
        assertRefused(await get('/api/any', `Bearer ${opaque}`), 401, 'invalid_token');
      }
    });

    test('"aud", "scope", "iss", "exp" and "nbf" of the answer are checked like a JWT\'s', async () => {
      const refused: Array<(d: Record<string, unknown>) => Record<string, unknown>> = [
        (d) => ({ ...d, aud: 'someone-else' }),
        (d) => ({ ...d, aud: undefined }),
        (d) => ({ ...d, iss: 'https://evil.example' }),
        (d) => ({ ...d, exp: now() - 120 }),
        (d) => ({ ...d, nbf: now() + 120 }),
      ];
      try {
        for (const change of refused) {
          answering(change);
          assertRefused(await get('/api/any', `Bearer ${op.issueAccessToken()}`), 401, 'invalid_token');
        }
        answering((d) => ({ ...d, scope: 'read' }));
        assertRefused(await get('/api/read-write', `Bearer ${op.issueAccessToken()}`), 403, 'insufficient_scope', 'read write');
        // "iat" is informational in an introspection answer (RFC 7662 §2.2): not checked.
        answering((d) => ({ ...d, iat: 'yesterday' }));
        assertOk(await get('/api/any', `Bearer ${op.issueAccessToken()}`));
        answering((d) => ({ ...d, scope: undefined, scp: ['write', 'read'] }));
        assertOk(await get('/api/read-write', `Bearer ${op.issueAccessToken()}`));
      } finally {
        reset();
      }
    });

    test('"introspection: true" asks about JWTs too: a validly signed JWT the provider calls inactive is refused', async () => {
      const jwt = await token();
      const before = op.introspectionRequests;
      assertRefused(await get('/api/introspect-all', `Bearer ${jwt}`), 401, 'invalid_token');
      assert.equal(op.introspectionRequests, before + 1);
      assertOk(await get('/api/any', `Bearer ${jwt}`));
      assert.equal(op.introspectionRequests, before + 1, 'a JWT is verified locally by default');
    });

    test('the introspection endpoint down: 5xx provider_unavailable, no bearer challenge, never a 500', async () => {
      const answers: ProviderAnswer[] = [
        { destroy: true },
        { status: 503, text: 'Service Unavailable', contentType: 'text/plain' },
        { status: 500, json: { error: 'server_error' } },
        { status: 200, text: '<html>proxy error</html>', contentType: 'text/html' },
        { status: 200, json: { active: 'true' } },
        { status: 200, json: { sub: 'alice' } },
        { status: 200, json: { active: true, aud: CLIENT_ID, exp: String(now() + 300) } },
        { status: 200, json: { active: true, aud: CLIENT_ID, nbf: null } },
        { hang: true },
      ];
      try {
        for (const answer of answers) {
          answering(answer);
          assertProviderFailed(await get('/api/any', `Bearer ${op.issueAccessToken()}`));
        }
      } finally {
        reset();
      }
    });

    test('the provider refusing our client credentials (RFC 6749 §5.2, with a Basic challenge) is a provider failure, not the caller\'s invalid_token', async () => {
      try {
        for (const headers of [undefined, { 'www-authenticate': 'Basic realm="hostile"' }]) {
          answering({ status: 401, json: { error: 'invalid_client' }, ...(headers ? { headers } : {}) });
          const res = await get('/api/any', `Bearer ${op.issueAccessToken()}`);
          assert.equal(res.status, 502, res.text);
          assert.equal(res.body?.error, 'invalid_client');
          assert.equal(res.body?.provider_error, 'invalid_client');
          assert.equal(res.challenge, undefined);
        }
      } finally {
        reset();
      }
    });

    test('the whole provider unreachable: cached opaque tokens still pass, new ones are 5xx', async () => {
      const known = op.issueAccessToken();
      assertOk(await get('/api/any', `Bearer ${known}`));
      const fresh = op.issueAccessToken();
      op.down = true;
      try {
        assertOk(await get('/api/any', `Bearer ${known}`));
        assertProviderFailed(await get('/api/any', `Bearer ${fresh}`));
      } finally {
        op.down = false;
      }
    });
  });

  describe('the verified-token cache', () => {
    test('an expired cached entry is not served (JWT and introspected token with a short exp)', async () => {
      const exp = now() + 2;
      const jwt = await token({ exp });
      const opaque = op.issueAccessToken({ exp });
      assertOk(await get('/api/strict', `Bearer ${jwt}`));
      assertOk(await get('/api/strict', `Bearer ${opaque}`));
      const asked = op.introspectionRequests;
      assertOk(await get('/api/strict', `Bearer ${opaque}`));
      assert.equal(op.introspectionRequests, asked, 'cached before exp');
      await sleep(exp * 1000 - Date.now() + 50);
      assertRefused(await get('/api/strict', `Bearer ${jwt}`), 401, 'invalid_token');
      assertRefused(await get('/api/strict', `Bearer ${opaque}`), 401, 'invalid_token');
      assert.equal(op.introspectionRequests, asked + 1, 'asked again after exp');
    });

    test('claims nested 20,000 deep (an introspection answer) are cached and served, not a stack overflow', async () => {
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      op.onIntrospect(() => ({ text: `{"active":true,"sub":"alice","aud":"${CLIENT_ID}","exp":${now() + 300},"deep":${deep}}`, contentType: 'application/json' }));
      try {
        const opaque = op.issueAccessToken();
        const first = await get('/api/sub', `Bearer ${opaque}`);
        assertOk(first);
        assert.equal(first.body!.openid.frozen, true, 'cached results are frozen');
        const asked = op.introspectionRequests;
        assertOk(await get('/api/sub', `Bearer ${opaque}`));
        assert.equal(op.introspectionRequests, asked, 'served from the cache');
      } finally {
        op.onIntrospect(undefined);
      }
    });

    test('what a request does to ctx.state does not leak into the next request with the same token', async () => {
      const jwt = await token({ scope: 'read' });
      await get('/shared/enrich', `Bearer ${jwt}`);
      const res = await get('/shared/me', `Bearer ${jwt}`);
      assertOk(res);
      assert.deepEqual(res.body!.openid.scopes, ['read']);
      assert.equal(res.body!.user.roles, undefined);
    });
  });

  describe('required({ bearer })', () => {
    let browser: Browser;
    const withSession = (path: string, authorization?: string | string[]) =>
      get(path, authorization, { cookie: browser.cookieHeader(`${fx.base}${path}`) });

    before(async () => {
      browser = (await fx.login()).browser;
      assert.ok(browser.cookieHeader(`${fx.base}/api/mixed`), 'the login set a session cookie');
    });

    test('a session login passes, as token "session"', async () => {
      const res = await withSession('/api/mixed');
      assert.equal(res.status, 200, res.text);
      const state = res.body!.openid;
      assert.equal(state.token, 'session');
      assert.equal(state.provider, 'hostile');
      assert.equal(state.claims.sub, 'alice');
      assert.ok(Array.isArray(state.scopes));
      assert.deepEqual(res.body!.user, state.claims);
    });

    test('a bearer token passes without a session, as token "bearer" (same shape)', async () => {
      const res = await get('/api/mixed', `Bearer ${await token()}`);
      assertOk(res);
      const session = (await withSession('/api/mixed')).body!.openid;
      for (const key of ['provider', 'claims', 'scopes', 'token']) {
        assert.ok(key in res.body!.openid && key in session, key);
      }
    });

    test("the session's own (opaque) access token works as a bearer token, through introspection", async () => {
      assert.ok(sessionAccessToken);
      assertOk(await get('/api/mixed', `Bearer ${sessionAccessToken}`));
    });

    test('a bad token with a valid session is refused: the token is judged alone', async () => {
      for (const jwt of [await token({ aud: 'other' }), await token({ exp: now() - 600 }), 'never-issued-opaque-token']) {
        const res = await withSession('/api/mixed', `Bearer ${jwt}`);
        assertRefused(res, 401, 'invalid_token');
        assert.equal(res.body!.openid, undefined);
      }
      assertRefused(await withSession('/api/mixed', 'Bearer a b'), 401, 'invalid_request');
      assertRefused(await withSession('/api/mixed?access_token=abc'), 401, 'invalid_request');
    });

    test('a session behind another scheme (an HTTP Basic proxy forwarding its header) still passes', async () => {
      const res = await withSession('/api/mixed', 'Basic dXNlcjpwYXNz');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body!.openid.token, 'session');
    });

    test('a token without the bearer scopes: 403 insufficient_scope', async () => {
      assertRefused(await get('/api/mixed-admin', `Bearer ${await token()}`), 403, 'insufficient_scope', 'admin');
      assertOk(await get('/api/mixed-admin', `Bearer ${await token({ scope: 'admin' })}`));
    });

    test('neither a session nor a token: 401 login_required with a Bearer challenge (RFC 7235 §3.1: a 401 must carry one)', async () => {
      const res = await get('/api/mixed');
      assert.equal(res.status, 401, res.text);
      assert.equal(res.body?.error, 'login_required');
      assert.equal(res.challenge, 'Bearer realm="hostile"');
    });
  });

  describe('nothing is echoed', () => {
    test('no token, token part, claim value or secret appears in any error body or header', async () => {
      const secrets = ['sub-LEAK-7f3a9c21', 'claim-LEAK-91b2e4', 'leak.user@example.com', 'jti-LEAK-55aa', CLIENT_SECRET, 'provider-said-LEAK-3c'];
      const claims = { sub: secrets[0], tenant: secrets[1], email: secrets[2], jti: secrets[3] };
      const t = (extra: Record<string, unknown> = {}, header?: Record<string, unknown>, key?: CryptoKey | Uint8Array) => token({ ...claims, ...extra }, header, key);
      const attempts: Array<() => Promise<Reply>> = [
        async () => get('/api/any', `Bearer ${await t({ iss: 'https://evil.example' })}`),
        async () => get('/api/any', `Bearer ${await t({ aud: 'aud-LEAK-0d0d' })}`),
        async () => get('/api/any', `Bearer ${await t({ exp: now() - 600 })}`),
        async () => get('/api/any', `Bearer ${await t({ nbf: now() + 600 })}`),
        async () => get('/api/any', `Bearer ${await t({}, { alg: 'none' })}`),
        async () => get('/api/any', `Bearer ${await t({}, { alg: 'HS256' }, publicPem(op))}`),
        async () => get('/api/any', `Bearer ${await t({}, { kid: 'kid-LEAK-1234567890' })}`),
        async () => get('/api/any', `Bearer ${tamperSignature(await t())}`),
        async () => get('/api/read-write', `Bearer ${await t({ scope: 'scopeLEAKvalue' })}`),
        async () => get('/api/tenant', `Bearer ${await t()}`, { 'x-tenant': 'other' }),
        async () => get('/api/any', `Bearer ${await t()} ${await t()}`),
        async () => get('/api/any', [`Bearer ${await t()}`, `Bearer ${await t()}`]),
        async () => get(`/api/any?access_token=${await t()}`),
        async () => get('/api/any', `Bearer ${await t({ nonce: 'nonce-LEAK-4242' })}`),
        async () => get('/api/any', 'Bearer opaque-LEAK-token-abcdef0123456789'),
      ];
      for (const answer of [
        { status: 401, json: { error: 'invalid_client', error_description: secrets[5] }, headers: { 'www-authenticate': `Basic realm="${secrets[5]}"` } },
        { status: 400, json: { error: 'invalid_request', error_description: secrets[5] } },
        { status: 500, text: secrets[5], contentType: 'text/plain' },
        { json: { active: true, sub: secrets[0], aud: 'aud-LEAK-0d0d', scope: 'read', iss: op.issuer } },
        { json: { active: false, error_description: secrets[5] } },
      ] satisfies ProviderAnswer[]) {
        attempts.push(async () => {
          op.onIntrospect(() => answer);
          try {
            return await get('/api/any', 'Bearer opaque-LEAK-token-abcdef0123456789');
          } finally {
            op.onIntrospect(undefined);
          }
        });
      }
      const needles = [...secrets, 'aud-LEAK-0d0d', 'kid-LEAK', 'scopeLEAKvalue', 'nonce-LEAK', 'opaque-LEAK', 'evil.example'];
      for (const [i, attempt] of attempts.entries()) {
        const res = await attempt();
        assert.ok(res.status >= 400 && res.status !== 500, `attempt ${i}: status ${res.status}`);
        const haystack = `${JSON.stringify(res.headers)}\n${res.text}`;
        for (const needle of needles) assert.ok(!haystack.includes(needle), `attempt ${i} echoes ${needle}: ${haystack}`);
        // No piece of a JWT either (every part of ours is longer than 16 characters).
        for (const piece of haystack.match(/eyJ[A-Za-z0-9_-]{13,}/g) ?? []) assert.fail(`attempt ${i} echoes a JWT part ${piece}`);
      }
    });
  });
});

describe('bearer() with PS256, ES256 and EdDSA providers', () => {
  const algs: Alg[] = ['PS256', 'ES256', 'EdDSA'];
  const apps = new Map<Alg, HostileApp>();
  before(async () => {
    for (const fx of await Promise.all(algs.map((alg) => startHostileApp({ scopes: ['openid'] }, (app, openid) => {
      const router = new Router();
      router.get('/api', openid.bearer({ scopes: ['read'] }), show);
      app.use(router.routes());
    }, alg)))) {
      apps.set(fx.op.keys.current.alg, fx);
    }
  });
  after(() => Promise.all([...apps.values()].map((fx) => fx.close())));

  for (const alg of algs) {
    test(`${alg}: a valid token passes; another algorithm under its "kid", HS256 with its public key, "none" and a tampered signature do not`, async () => {
      const { base, op } = apps.get(alg)!;
      const res = await call(base, '/api', `Bearer ${await accessToken(op)}`);
      assertOk(res);
      assert.deepEqual(res.body!.openid.scopes, ['read']);
      assertRefused(await call(base, '/api', `Bearer ${await accessToken(op, { scope: 'write' })}`), 403, 'insufficient_scope', 'read');

      const forged = [
        await accessToken(op, {}, { alg: 'RS256' }, (await generateKeyPair('RS256')).privateKey),
        await accessToken(op, {}, { alg: 'ES256' }, (await generateKeyPair('ES256')).privateKey),
        await accessToken(op, {}, { alg: 'HS256' }, publicPem(op)),
        await accessToken(op, {}, { alg: 'none' }),
        tamperSignature(await accessToken(op)),
      ];
      if (alg === 'PS256') {
        // The provider's own RSA key, but PKCS#1 v1.5 instead of PSS: the alg is not the key's.
        const { alg: _alg, ...jwk } = await exportJWK(op.keys.current.privateKey);
        forged.push(await accessToken(op, {}, { alg: 'RS256' }, (await importJWK(jwk, 'RS256')) as CryptoKey));
      }
      for (const [i, jwt] of forged.entries()) {
        if (alg === 'ES256' && i === 1) continue; // a fresh ES256 key under the kid: covered by "unknown key" below
        assertRefused(await call(base, '/api', `Bearer ${jwt}`), 401, 'invalid_token');
      }
      // The right alg, but a key the provider never published, under its kid.
      const { privateKey } = await generateKeyPair(alg);
      assertRefused(await call(base, '/api', `Bearer ${await accessToken(op, {}, {}, privateKey)}`), 401, 'invalid_token');
    });
  }

  test('a provider without an introspection endpoint: an opaque token is 401 invalid_token', async () => {
    const fx = await startHostileApp({}, (app, openid) => app.use(openid.bearer()));
    try {
      delete fx.op.discovery.introspection_endpoint;
      const before = fx.op.introspectionRequests;
      assertRefused(await call(fx.base, '/', `Bearer ${fx.op.issueAccessToken()}`), 401, 'invalid_token');
      assert.equal(fx.op.introspectionRequests, before);
    } finally {
      await fx.close();
    }
  });
});

describe('a JWT cache hit still enforces the route\'s scopes', () => {
  test('a token served from the cache after its key left the JWKS is still 403 where it lacks the scope', async () => {
    const fx = await startHostileApp({}, (app, openid) => {
      const router = new Router();
      router.get('/scoped', openid.bearer({ scopes: ['write'] }), show);
      router.get('/fresh', openid.bearer(), show);
      app.use(router.routes());
    });
    try {
      const { op, base } = fx;
      const jwt = await accessToken(op, { scope: 'read' });
      assertRefused(await call(base, '/scoped', `Bearer ${jwt}`), 403, 'insufficient_scope', 'write'); // verified once
      assertRefused(await call(base, '/scoped', `Bearer ${jwt}`), 403, 'insufficient_scope', 'write'); // seen again: cached
      await op.keys.rotate(undefined, { keepOld: false });
      assertOk(await call(base, '/fresh', `Bearer ${await accessToken(op)}`)); // the app now knows only the new key
      assertRefused(await call(base, '/fresh', `Bearer ${jwt}`), 401, 'invalid_token'); // not verifiable any more
      assertRefused(await call(base, '/scoped', `Bearer ${jwt}`), 403, 'insufficient_scope', 'write'); // cache hit: scopes still checked
    } finally {
      await fx.close();
    }
  });
});
