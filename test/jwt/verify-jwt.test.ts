/**
 * `provider.verifyToken(jwt)`: JWTs signed by the provider (access tokens for an API) are verified
 * against its JWKS; everything else fails with `invalid_token`, never with another error.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { generateKeyPair } from 'jose';
import Koa from 'koa';

import { OpenID, OpenIDError, type OpenIDOptions } from '../../src/index.js';
import { startHostileProvider, tamperSignature, type HostileProvider } from '../support/hostile-provider.js';

const CLIENT_ID = 'api-client';
const now = () => Math.floor(Date.now() / 1000);
const utf8 = (text: string) => new TextEncoder().encode(text);

function isInvalidToken(err: unknown): true {
  assert.ok(err instanceof OpenIDError, `not an OpenIDError: ${String(err)}`);
  assert.equal(err.code, 'invalid_token', err.message);
  assert.equal(err.status, 401);
  return true;
}

describe('verifyToken', () => {
  let op: HostileProvider;
  let openid: OpenID;

  function provider(options: Partial<OpenIDOptions> = {}): OpenID {
    return new OpenID(new Koa(), {
      name: 'api',
      clientId: CLIENT_ID,
      clientSecret: 'api-client-secret-value-0123456789',
      configuration: op.discoveryUrl,
      allowInsecureRequests: true,
      jwksCooldown: 0.3,
      timeout: 1,
      routes: false,
      ...options,
    });
  }

  /** An access-token-like JWT (RFC 9068 shape) signed with the provider's current key. */
  function token(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key?: CryptoKey | Uint8Array) {
    return op.sign(
      { iss: op.issuer, aud: CLIENT_ID, sub: 'alice', client_id: CLIENT_ID, scope: 'read', iat: now(), exp: now() + 300, ...claims },
      { typ: 'at+jwt', ...header },
      key,
    );
  }

  before(async () => {
    op = await startHostileProvider({ clientId: CLIENT_ID });
    openid = provider();
  });
  after(() => op.close());

  test('an ID token is refused, and so is a token without "sub"', async () => {
    await assert.rejects(openid.verifyToken(await token({ nonce: 'n', typ: 'JWT' }, { typ: 'JWT' })), isInvalidToken);
    await assert.rejects(openid.verifyToken(await token({ at_hash: 'x5iMXbfvbGyqEYGdIfgzxA' }, { typ: 'JWT' })), isInvalidToken);
    await assert.rejects(openid.verifyToken(await token({ sub: undefined })), isInvalidToken);
  });

  test('options are checked like bearer()\'s: a TypeError naming the option', async () => {
    const expired = await token({ exp: now() - 30 * 86400 });
    for (const [options, message] of [
      [{ clockTolerance: Number.NaN }, /"clockTolerance"/],
      [{ clockTolerance: -1 }, /"clockTolerance"/],
      [{ audience: '' }, /"audience"/],
      [{ algorithms: ['none'] }, /"algorithms\.0"/],
      [{ audiense: 'x' }, /unknown option "audiense"/],
    ] as const) {
      await assert.rejects(openid.verifyToken(expired, options as never), { name: 'TypeError', message }, JSON.stringify(options));
    }
  });

  test('a valid JWT gives its claims', async () => {
    const claims = await openid.verifyToken(await token({ scope: 'read write' }));
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.scope, 'read write');
    assert.equal(claims.aud, CLIENT_ID);
  });

  const refused: Array<[string, () => Promise<string> | string]> = [
    ['another "aud"', () => token({ aud: 'other-api' })],
    ['another "iss"', () => token({ iss: 'https://evil.example' })],
    ['an expired "exp"', () => token({ iat: now() - 7200, exp: now() - 3600 })],
    ['no "exp"', () => token({ exp: undefined })],
    ['"nbf" in the future', () => token({ nbf: now() + 3600 })],
    ['a bad signature', async () => tamperSignature(await token())],
    ['alg "none"', () => token({}, { alg: 'none' })],
    ['alg "none" with a signature part', async () => `${(await token({}, { alg: 'none' })).slice(0, -1)}.c2ln`],
    [
      'HS256 keyed with the public key PEM (key confusion)',
      () => {
        const pem = createPublicKey({ key: op.keys.current.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        return token({}, { alg: 'HS256' }, utf8(String(pem)));
      },
    ],
    ['HS256 keyed with the public JWK JSON', () => token({}, { alg: 'HS256' }, utf8(JSON.stringify(op.keys.current.publicJwk)))],
    ['an unknown "kid"', () => token({}, { kid: 'no-such-kid' })],
    [
      'a signature by an unknown key under a known "kid"',
      async () => token({}, { kid: op.keys.current.kid }, (await generateKeyPair('RS256')).privateKey),
    ],
    ['an empty string', () => ''],
    ['"garbage"', () => 'garbage'],
    ['"a.b.c"', () => 'a.b.c'],
    ['three dots', () => '...'],
    ['an empty header', () => 'e30.e30.e30'],
    ['a header that is not JSON', () => `${Buffer.from('{"alg":').toString('base64url')}.e30.e30`],
    ['a JWE-shaped string (5 parts)', () => `${Buffer.from('{"alg":"RSA-OAEP","enc":"A256GCM"}').toString('base64url')}.a.b.c.d`],
    ['an over-long JWT (32 KB)', () => token({ pad: 'x'.repeat(32 * 1024) })],
    ['a megabyte of dots', () => '.'.repeat(1024 * 1024)],
    ['a "Bearer " prefix', async () => `Bearer ${await token()}`],
  ];

  for (const [what, make] of refused) {
    test(`${what}: invalid_token`, async () => {
      const jwt = await make();
      await assert.rejects(openid.verifyToken(jwt), (err: unknown) => {
        isInvalidToken(err);
        const parts = jwt.split('.').filter((p) => p.length >= 16);
        for (const part of parts) assert.ok(!(err as Error).message.includes(part), 'the message quotes the token');
        return true;
      });
    });
  }

  test('values that are not strings: invalid_token', async () => {
    for (const value of [undefined, null, 42, {}, ['a.b.c'], Buffer.from('a.b.c')]) {
      await assert.rejects(openid.verifyToken(value as unknown as string), isInvalidToken);
    }
  });

  test('an HMAC keyed with the public key stays refused even when the caller lists HS256', async () => {
    const jwt = await token({}, { alg: 'HS256' }, utf8(JSON.stringify(op.keys.current.publicJwk)));
    await assert.rejects(openid.verifyToken(jwt, { algorithms: ['HS256', 'RS256'] }), isInvalidToken);
  });

  test('an unknown "kid" waits at most the cooldown', async () => {
    const started = performance.now();
    await assert.rejects(openid.verifyToken(await token({}, { kid: 'another-unknown-kid' })), isInvalidToken);
    assert.ok(performance.now() - started < 300 + 400, `took ${Math.round(performance.now() - started)} ms`);
  });

  test('the "audience" option is honoured', async () => {
    const jwt = await token({ aud: 'orders-api' });
    await assert.rejects(openid.verifyToken(jwt), isInvalidToken);
    assert.equal((await openid.verifyToken(jwt, { audience: 'orders-api' })).aud, 'orders-api');
    assert.equal((await openid.verifyToken(jwt, { audience: ['other', 'orders-api'] })).sub, 'alice');
    await assert.rejects(openid.verifyToken(await token(), { audience: 'orders-api' }), isInvalidToken);
  });

  test('a malformed key in the JWKS under the token\'s "kid": invalid_token, not a crash', async () => {
    const { n: _n, ...broken } = { ...op.keys.current.publicJwk, kid: 'broken-key' };
    const other = provider({ name: 'broken' });
    op.keys.published = [...op.keys.published, broken];
    try {
      await assert.rejects(other.verifyToken(await token({}, { kid: 'broken-key' })), isInvalidToken);
      // The other keys still work.
      assert.equal((await other.verifyToken(await token())).sub, 'alice');
    } finally {
      op.keys.published = op.keys.published.filter((k) => k.kid !== 'broken-key');
    }
  });

  test('the provider down after the JWKS was fetched: verification keeps working from the cache', async () => {
    const cached = provider({ name: 'cached', jwksMaxAge: 0.2 });
    assert.equal((await cached.verifyToken(await token())).sub, 'alice');
    const jwt = await token();
    for (const outage of ['destroy', 503, 'hang'] as const) {
      op.outage = outage;
      op.down = true;
      try {
        // Past jwksMaxAge: a background refresh is attempted and fails; the cached keys stay.
        await new Promise((resolve) => setTimeout(resolve, 250));
        assert.equal((await cached.verifyToken(jwt)).sub, 'alice', `outage ${outage}`);
        assert.equal((await cached.verifyToken(jwt)).sub, 'alice', `outage ${outage}, again`);
        await assert.rejects(cached.verifyToken(await token({}, { kid: `unknown-${outage}` })), isInvalidToken);
      } finally {
        op.down = false;
        op.outage = 'destroy';
      }
    }
  });
});
