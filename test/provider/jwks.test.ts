/**
 * `RemoteKeySet` against the hostile provider's JWKS endpoint: the documented rotation rule
 * (src/jwks.ts), measured in fetches and milliseconds.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';

import { compactVerify, exportJWK, generateKeyPair, type JWK } from 'jose';

import { OpenIDError } from '../../src/errors.js';
import { RemoteKeySet, type KeySetOptions } from '../../src/provider/jwks.js';
import { startHostileProvider, type Answer, type HostileProvider } from '../support/hostile-provider.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RemoteKeySet', () => {
  let op: HostileProvider;

  beforeEach(async () => {
    op = await startHostileProvider({ alg: 'ES256' }); // fast key generation
  });
  afterEach(() => op.close());

  function keySet(options: Partial<KeySetOptions> = {}): RemoteKeySet {
    return new RemoteKeySet(new URL(`${op.issuer}/jwks`), {
      timeoutMs: 500,
      cooldownMs: 300,
      maxAgeMs: 60_000,
      allowInsecure: true,
      ...options,
    });
  }

  const current = () => ({ alg: op.keys.current.alg, kid: op.keys.current.kid });

  /** Polls until `check` holds (background work), failing after `ms`. */
  async function eventually(check: () => boolean, ms = 1000) {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) assert.fail('timed out waiting');
      await sleep(10);
    }
  }

  test('refuses an http:// JWKS unless insecure requests are allowed', () => {
    assert.throws(() => keySet({ allowInsecure: false }), (err: unknown) => err instanceof OpenIDError && err.code === 'discovery_failed');
  });

  test('the first fetch is lazy', async () => {
    const keys = keySet();
    await sleep(20);
    assert.equal(op.jwksRequests, 0);
    assert.equal(keys.fetches, 0);
    const found = await keys.candidates(current());
    assert.equal(found.length, 1);
    assert.equal(op.jwksRequests, 1);
    // Cached from now on.
    await keys.candidates(current());
    assert.equal(op.jwksRequests, 1);
  });

  test('concurrent first calls share one fetch', async () => {
    op.intercept(async (req) => {
      if (req.route === '/jwks') await sleep(100);
      return undefined;
    });
    const keys = keySet();
    const all = await Promise.all(Array.from({ length: 8 }, () => keys.candidates(current())));
    assert.ok(all.every((found) => found.length === 1));
    assert.equal(op.jwksRequests, 1);
    assert.equal(keys.fetches, 1);
  });

  test('an unknown kid waits at most the cooldown, then sees the new key', async () => {
    const keys = keySet({ cooldownMs: 300 });
    await keys.candidates(current());
    const rotated = await op.keys.rotate();
    const started = performance.now();
    const found = await keys.candidates({ alg: rotated.alg, kid: rotated.kid });
    const ms = performance.now() - started;
    assert.equal(found.length, 1);
    assert.ok(ms <= 300 + 150, `waited ${Math.round(ms)} ms`);
    assert.equal(op.jwksRequests, 2);

    // Once the cooldown is over, an unknown kid is fetched at once.
    await sleep(320);
    const next = await op.keys.rotate();
    const again = performance.now();
    assert.equal((await keys.candidates({ alg: next.alg, kid: next.kid })).length, 1);
    assert.ok(performance.now() - again < 150, 'no waiting past the cooldown');
    assert.equal(op.jwksRequests, 3);
  });

  test('a flood of bogus kids: one fetch per cooldown; a repeated bogus kid fails at once without a fetch', async () => {
    const keys = keySet({ cooldownMs: 300 });
    await keys.candidates(current());
    const kids = Array.from({ length: 20 }, (_, i) => `bogus-${i}`);
    const found = await Promise.all(kids.map((kid) => keys.candidates({ alg: 'ES256', kid })));
    assert.ok(found.every((f) => f.length === 0));
    assert.equal(op.jwksRequests, 2, 'one shared refetch for all of them');

    const started = performance.now();
    assert.deepEqual(await keys.candidates({ alg: 'ES256', kid: 'bogus-7' }), []);
    assert.ok(performance.now() - started < 50, 'no waiting for a kid just found unknown');
    assert.equal(op.jwksRequests, 2);
  });

  test('a kid refused once is looked up again after the cooldown (the JWKS may lag behind the signer)', async () => {
    const keys = keySet({ cooldownMs: 200 });
    await keys.candidates(current());
    const rotated = await op.keys.rotate();
    op.keys.published = op.keys.published.filter((k) => k.kid !== rotated.kid);
    assert.deepEqual(await keys.candidates({ alg: rotated.alg, kid: rotated.kid }), []);
    assert.equal(op.jwksRequests, 2);

    op.keys.published = [rotated.publicJwk, ...op.keys.published];
    await sleep(250);
    const found = await keys.candidates({ alg: rotated.alg, kid: rotated.kid });
    assert.equal(found.length, 1, 'the published key is still refused: no refetch until jwksMaxAge');
    assert.equal(op.jwksRequests, 3);
  });

  test('failed refetches keep the old keys', async () => {
    const keys = keySet({ cooldownMs: 50, timeoutMs: 200 });
    await keys.candidates(current());
    const failures: Answer[] = [
      { status: 500, text: 'oops', contentType: 'text/plain' },
      { status: 404, json: { error: 'not_found' } },
      { text: '{"keys": [' },
      { json: { keys: 'none' } },
      { json: [] },
      { text: JSON.stringify({ keys: [], pad: 'x'.repeat(600 * 1024) }) },
      { status: 302, text: '', headers: { location: 'http://127.0.0.1:1/jwks' } },
      { destroy: true },
      { hang: true },
    ];
    for (const failure of failures) {
      op.intercept((req) => (req.route === '/jwks' ? failure : undefined));
      const before = keys.fetches;
      assert.deepEqual(await keys.candidates({ alg: 'ES256', kid: `forces-a-refetch-${before}` }), []);
      assert.equal(keys.fetches, before + 1, JSON.stringify(failure).slice(0, 60));
      assert.equal((await keys.candidates(current())).length, 1, `old key lost after ${JSON.stringify(failure).slice(0, 60)}`);
    }
  });

  test('before any successful fetch, a failing JWKS is asked at most once per cooldown', async () => {
    op.intercept((req) => (req.route === '/jwks' ? { status: 500, text: 'down', contentType: 'text/plain' } : undefined));
    const keys = keySet({ cooldownMs: 300 });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(keys.candidates(current()), (err: unknown) => err instanceof OpenIDError && err.code === 'provider_unavailable');
    }
    assert.equal(keys.fetches, 1, 'every lookup asked the failing provider again');
    op.intercept(undefined);
    await sleep(320);
    assert.equal((await keys.candidates(current())).length, 1, 'asked again once the cooldown is over');
  });

  test('symmetric ("oct") keys are ignored', async () => {
    const oct: JWK = { kty: 'oct', kid: 'shared', k: Buffer.from('a-shared-secret-0123456789abcdef').toString('base64url'), alg: 'HS256' };
    op.keys.published = [...op.keys.published, oct, { ...oct, kid: op.keys.current.kid, alg: undefined }];
    const keys = keySet({ cooldownMs: 0 });
    assert.deepEqual(await keys.candidates({ alg: 'HS256', kid: 'shared' }), []);
    assert.deepEqual(await keys.candidates({ alg: 'HS256', kid: op.keys.current.kid }), []);
    assert.deepEqual(await keys.candidates({ alg: 'ES256', kid: 'shared' }), []);
    assert.equal((await keys.candidates(current())).length, 1);
  });

  test('encryption keys ("use": "enc", key_ops without verify) and keys of another alg are ignored', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    op.keys.published = [
      ...op.keys.published,
      { ...jwk, kid: 'enc', use: 'enc' },
      { ...jwk, kid: 'ops', key_ops: ['encrypt', 'wrapKey'] },
      { ...jwk, kid: 'rs512', alg: 'RS512' },
    ];
    const keys = keySet({ cooldownMs: 0 });
    for (const kid of ['enc', 'ops', 'rs512']) {
      assert.deepEqual(await keys.candidates({ alg: 'RS256', kid }), [], kid);
    }
    assert.equal((await keys.candidates({ alg: 'RS512', kid: 'rs512' })).length, 1, 'its own alg is fine');
  });

  test('a key without kid is matched by alg, and verifies a token without kid', async () => {
    const { kid: _kid, ...noKid } = op.keys.current.publicJwk;
    op.keys.published = [noKid];
    const keys = keySet({ cooldownMs: 0 });
    const jws = await op.sign({ sub: 'alice' }, { kid: undefined });
    const found = await keys.candidates({ alg: 'ES256' });
    assert.equal(found.length, 1);
    const { payload } = await compactVerify(jws, found[0]!);
    assert.equal(JSON.parse(new TextDecoder().decode(payload)).sub, 'alice');
    assert.deepEqual(await keys.candidates({ alg: 'RS256' }), [], 'no RSA key');
    assert.deepEqual(await keys.candidates({ alg: 'ES384' }), [], 'not a P-384 key');
    assert.deepEqual(await keys.candidates({ alg: 'ES256', kid: 'some-kid' }), [], 'a kid must match exactly');
  });

  test('maxAge: the set is refreshed in the background; a dropped key stops being accepted', async () => {
    const keys = keySet({ maxAgeMs: 200, cooldownMs: 50 });
    const old = current();
    await keys.candidates(old);
    const rotated = await op.keys.rotate(undefined, { keepOld: false });
    await sleep(250);
    // Served from the cache at once while the refresh runs.
    const started = performance.now();
    assert.equal((await keys.candidates(old)).length, 1);
    assert.ok(performance.now() - started < 50);
    await eventually(() => op.jwksRequests === 2);
    // The new key is known without another fetch (a lookup still in flight joins it); the old one is gone.
    assert.equal((await keys.candidates({ alg: rotated.alg, kid: rotated.kid })).length, 1);
    assert.equal(op.jwksRequests, 2);
    assert.deepEqual(await keys.candidates(old), []);
  });
});

test('the JWKS size limit applies while reading: a jwks_uri that streams without end is cut off early', async () => {
  const { createServer } = await import('node:http');
  let sent = 0;
  let closed = false;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    res.write('{"keys":[');
    // Writes until the client goes away (or 256 MiB, a bound for the test itself).
    const pump = () => {
      while (!closed && sent < 256 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => (closed = true));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const keys = new RemoteKeySet(new URL(`http://127.0.0.1:${port}/jwks`), { timeoutMs: 5000, cooldownMs: 100, maxAgeMs: 60_000, allowInsecure: true });
    await assert.rejects(keys.candidates({ alg: 'RS256', kid: 'k' }), (err: unknown) => err instanceof OpenIDError && err.code === 'provider_unavailable');
    // The reader stopped after 512 KiB; what the server got out before noticing is socket buffers.
    assert.ok(sent < 16 * 1024 * 1024, `the server sent ${(sent / 1024 / 1024).toFixed(1)} MiB before we stopped reading`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
