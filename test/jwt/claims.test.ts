/**
 * src/claims.ts: the registered-claim checks (`claimsProblem`, jose's `jwtVerify` rules) and the
 * decoding of a JWS's JSON segments (`decodeJsonObject`); then the same rules through `verifyJwt`
 * and `verifyJwtNow` with a real RS256 key and a fake key set.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';

import type { JWK } from 'jose';

import { claimsProblem, decodeJsonObject, type ClaimRules } from '../../src/jwt/claims.js';
import { OpenIDError } from '../../src/errors.js';
import { importVerifyKey } from '../../src/jwt/jws-signature.js';
import { verifyJwt, verifyJwtNow, type JwtCheck } from '../../src/jwt/verify-jwt.js';

const ISSUER = 'https://op.example';
const NOW = 1_700_000_000;

const rules = (overrides: Partial<ClaimRules> = {}): ClaimRules => ({
  issuer: ISSUER,
  audience: 'client',
  clockTolerance: 0,
  required: ['iss', 'aud', 'exp'],
  ...overrides,
});

const good = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  aud: 'client',
  sub: 'alice',
  iat: NOW - 10,
  exp: NOW + 300,
  ...overrides,
});

/** The problem of `claims`, which must be one; it must not contain any of `secrets` (claim values). */
function problem(claims: Record<string, unknown>, r: ClaimRules = rules(), secrets: string[] = []): string {
  const message = claimsProblem(claims, r, NOW);
  assert.equal(typeof message, 'string', `no problem found in ${JSON.stringify(claims)}`);
  for (const secret of secrets) assert.ok(!message!.includes(secret), `the message ${JSON.stringify(message)} holds the value ${JSON.stringify(secret)}`);
  return message!;
}

describe('claimsProblem', () => {
  test('good claims have no problem', () => {
    assert.equal(claimsProblem(good(), rules(), NOW), undefined);
    assert.equal(claimsProblem(good({ nbf: NOW - 1 }), rules(), NOW), undefined);
    assert.equal(claimsProblem({ iss: ISSUER, aud: 'client', exp: NOW + 1 }, rules(), NOW), undefined);
  });

  test('`now` defaults to the current time', () => {
    const current = Math.floor(Date.now() / 1000);
    assert.equal(claimsProblem(good({ iat: current, exp: current + 60 }), rules()), undefined);
    assert.match(claimsProblem(good({ exp: current - 60 }), rules()) ?? '', /expired/);
  });

  describe('required claims', () => {
    for (const claim of ['iss', 'aud', 'exp']) {
      test(`a missing "${claim}" is named`, () => {
        const claims = good();
        delete claims[claim];
        assert.equal(problem(claims), `the "${claim}" claim is missing`);
      });
    }

    test('any claim can be required, and present means an own member (even null)', () => {
      const r = rules({ required: ['iss', 'aud', 'exp', 'sid', 'auth_time'] });
      assert.equal(claimsProblem(good({ auth_time: NOW }), rules(), NOW), undefined);
      assert.equal(problem(good({ auth_time: NOW }), r), 'the "sid" claim is missing');
      assert.equal(problem(good({ sid: 'x' }), r), 'the "auth_time" claim is missing');
      assert.equal(claimsProblem(good({ sid: null, auth_time: NOW }), r, NOW), undefined);
      // Inherited members do not count.
      const inherited = Object.assign(Object.create({ sid: 'x', auth_time: NOW }) as Record<string, unknown>, good());
      assert.equal(problem(inherited, r), 'the "sid" claim is missing');
    });

    test('"iss" absent while not required is fine', () => {
      const claims = good();
      delete claims.iss;
      assert.equal(claimsProblem(claims, rules({ required: ['aud', 'exp'] }), NOW), undefined);
    });

    test('"exp" absent while not required is fine; "aud" absent is not when an audience is set', () => {
      const claims = good();
      delete claims.exp;
      assert.equal(claimsProblem(claims, rules({ required: [] }), NOW), undefined);
      const noAud = good();
      delete noAud.aud;
      assert.equal(problem(noAud, rules({ required: [] })), 'the "aud" claim check failed');
      assert.equal(claimsProblem(noAud, rules({ required: [], audience: undefined }), NOW), undefined);
    });
  });

  describe('time claims must be numbers', () => {
    const values: [string, unknown][] = [
      ['a numeric string', String(NOW + 300)],
      ['a date string', '2030-01-01T00:00:00Z'],
      ['null', null],
      ['an object', { value: NOW + 300 }],
      ['an array', [NOW + 300]],
      ['a boolean', true],
      ['Infinity (JSON 1e999)', Infinity],
      ['-Infinity', -Infinity],
      ['NaN', NaN],
    ];
    for (const claim of ['exp', 'nbf', 'iat']) {
      for (const [name, value] of values) {
        test(`"${claim}" as ${name} is refused`, () => {
          const secrets = typeof value === 'string' ? [value] : [];
          assert.equal(problem(good({ [claim]: value }), rules(), secrets), `the "${claim}" claim is not a number`);
        });
      }
    }

    test('1e999 in the JSON is Infinity, refused as "exp"', () => {
      const claims = decodeJsonObject(Buffer.from(`{"iss":"${ISSUER}","aud":"client","exp":1e999}`).toString('base64url'));
      assert.equal(claims.exp, Infinity);
      assert.equal(problem(claims), 'the "exp" claim is not a number');
    });

    test('fractional times are numbers', () => {
      assert.equal(claimsProblem(good({ exp: NOW + 0.5, nbf: NOW - 0.5, iat: NOW - 0.25 }), rules(), NOW), undefined);
    });
  });

  describe('"iss"', () => {
    test('another issuer is refused, and the message does not repeat it', () => {
      const evil = 'https://evil.example/tenant-7f3a';
      assert.equal(problem(good({ iss: evil }), rules(), [evil, 'evil']), 'the token was issued by another issuer');
    });

    test('near misses are refused', () => {
      for (const iss of [`${ISSUER}/`, ISSUER.toUpperCase(), ` ${ISSUER}`, 'http://op.example', null, 42, [ISSUER], { iss: ISSUER }]) {
        assert.equal(problem(good({ iss })), 'the token was issued by another issuer', JSON.stringify(iss));
      }
    });
  });

  describe('"aud"', () => {
    test('a string equal to the audience passes; another string fails without being repeated', () => {
      assert.equal(claimsProblem(good({ aud: 'client' }), rules(), NOW), undefined);
      assert.equal(problem(good({ aud: 'other-client-5e1d' }), rules(), ['other-client-5e1d']), 'the "aud" claim check failed');
    });

    test('an array holding the audience passes', () => {
      assert.equal(claimsProblem(good({ aud: ['api', 'client'] }), rules(), NOW), undefined);
      assert.equal(claimsProblem(good({ aud: ['client'] }), rules(), NOW), undefined);
    });

    test('an array without the audience fails', () => {
      assert.equal(problem(good({ aud: ['api', 'other-client-5e1d'] }), rules(), ['other-client-5e1d', 'api']), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: [] })), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: ['Client', 'client '] })), 'the "aud" claim check failed');
    });

    test('non-string entries never match', () => {
      assert.equal(problem(good({ aud: [null, 42, { aud: 'client' }, ['client']] })), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: { 0: 'client', length: 1 } })), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: 42 })), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: null })), 'the "aud" claim check failed');
      // A matching string among them is enough, as in jose.
      assert.equal(claimsProblem(good({ aud: [null, 42, 'client'] }), rules(), NOW), undefined);
    });

    test('a missing "aud" fails when an audience is set', () => {
      const claims = good();
      delete claims.aud;
      assert.equal(problem(claims, rules({ required: ['iss', 'exp'] })), 'the "aud" claim check failed');
    });

    test('an array of audiences: any one of them matches', () => {
      const r = rules({ audience: ['client', 'api'] });
      assert.equal(claimsProblem(good({ aud: 'api' }), r, NOW), undefined);
      assert.equal(claimsProblem(good({ aud: 'client' }), r, NOW), undefined);
      assert.equal(claimsProblem(good({ aud: ['other', 'api'] }), r, NOW), undefined);
      assert.equal(problem(good({ aud: 'other' }), r), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: ['other', 'another'] }), r), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: 'client' }), rules({ audience: [] })), 'the "aud" claim check failed');
    });

    test('an audience string is matched whole, not as a substring or a list', () => {
      assert.equal(problem(good({ aud: 'cli' })), 'the "aud" claim check failed');
      assert.equal(problem(good({ aud: 'client' }), rules({ audience: 'client,api' })), 'the "aud" claim check failed');
    });

    test('without an audience any "aud" passes', () => {
      assert.equal(claimsProblem(good({ aud: 'someone-else' }), rules({ audience: undefined }), NOW), undefined);
    });
  });

  describe('"exp"', () => {
    test('"exp" exactly now has expired', () => {
      assert.equal(problem(good({ exp: NOW })), 'the token has expired');
      assert.equal(problem(good({ exp: NOW - 1 })), 'the token has expired');
      assert.equal(claimsProblem(good({ exp: NOW + 1 }), rules(), NOW), undefined);
    });

    test('"exp" within the clock tolerance is fine, at the tolerance it has expired', () => {
      const r = rules({ clockTolerance: 30 });
      assert.equal(claimsProblem(good({ exp: NOW }), r, NOW), undefined);
      assert.equal(claimsProblem(good({ exp: NOW - 29 }), r, NOW), undefined);
      assert.equal(problem(good({ exp: NOW - 30 }), r), 'the token has expired');
      assert.equal(problem(good({ exp: NOW - 3600 }), r), 'the token has expired');
    });
  });

  describe('"nbf"', () => {
    test('"nbf" in the future beyond the tolerance is not valid yet', () => {
      assert.equal(problem(good({ nbf: NOW + 1 })), 'the token is not valid yet');
      assert.equal(problem(good({ nbf: NOW + 31 }), rules({ clockTolerance: 30 })), 'the token is not valid yet');
    });

    test('"nbf" now, in the past, or in the future within the tolerance is fine', () => {
      assert.equal(claimsProblem(good({ nbf: NOW }), rules(), NOW), undefined);
      assert.equal(claimsProblem(good({ nbf: NOW - 3600 }), rules(), NOW), undefined);
      assert.equal(claimsProblem(good({ nbf: NOW + 30 }), rules({ clockTolerance: 30 }), NOW), undefined);
      assert.equal(claimsProblem(good({ nbf: NOW + 29.5 }), rules({ clockTolerance: 30 }), NOW), undefined);
    });
  });

  test('"iat" in the future is not checked (as jose without maxTokenAge)', () => {
    assert.equal(claimsProblem(good({ iat: NOW + 3600 }), rules(), NOW), undefined);
  });

  test('messages never hold claim values', () => {
    const marker = 'VALUE-9d2c';
    const cases: Record<string, unknown>[] = [
      good({ iss: marker }),
      good({ aud: marker }),
      good({ aud: [marker] }),
      good({ exp: marker }),
      good({ nbf: marker }),
      good({ iat: marker }),
      good({ exp: NOW - 1, sub: marker }),
      good({ nbf: NOW + 100, sub: marker }),
    ];
    for (const claims of cases) problem(claims, rules(), [marker, String(NOW - 1), String(NOW + 100)]);
  });
});

describe('decodeJsonObject', () => {
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');

  test('a JSON object', () => {
    assert.deepEqual(decodeJsonObject(b64('{"alg":"RS256","kid":"k1","n":[1,{"x":null}]}')), { alg: 'RS256', kid: 'k1', n: [1, { x: null }] });
    assert.deepEqual(decodeJsonObject(b64('{}')), {});
    assert.deepEqual(decodeJsonObject(b64(' \n{"a":"é€😀"} ')), { a: 'é€😀' });
  });

  test('"__proto__" stays an own member, not the prototype', () => {
    const value = decodeJsonObject(b64('{"__proto__":{"polluted":true}}'));
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.ok(Object.hasOwn(value, '__proto__'));
    assert.equal((value as { polluted?: unknown }).polluted, undefined);
  });

  for (const [name, json] of [
    ['an array', '[{"alg":"RS256"}]'],
    ['an empty array', '[]'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"{\\"alg\\":\\"RS256\\"}"'],
    ['true', 'true'],
  ] as const) {
    test(`${name} throws`, () => {
      assert.throws(() => decodeJsonObject(b64(json)), TypeError);
    });
  }

  test('invalid UTF-8 throws', () => {
    assert.throws(() => decodeJsonObject(b64(Buffer.from([0xff, 0xfe]))), TypeError);
    // An object whose string holds a lone continuation byte, and an overlong "/" (0xc0 0xaf).
    assert.throws(() => decodeJsonObject(b64(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0x80]), Buffer.from('"}')]))), TypeError);
    assert.throws(() => decodeJsonObject(b64(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]))), TypeError);
  });

  test('a segment with a lone last character (no byte) is not base64url', () => {
    assert.deepEqual(decodeJsonObject(b64('{}')), {});
    const nine = b64('{"ab":12}'); // 9 bytes: 12 characters
    assert.deepEqual(decodeJsonObject(nine), { ab: 12 });
    assert.throws(() => decodeJsonObject(`${nine}A`), TypeError);
  });

  test('non-JSON throws', () => {
    for (const text of ['', '{', '{"a":1', "{'a':1}", '{a:1}', '{"a":1}}', 'undefined', 'NaN', '{"a":NaN}', '{"a":1,}']) {
      assert.throws(() => decodeJsonObject(b64(text)), SyntaxError, JSON.stringify(text));
    }
  });
});

describe('verifyJwt with the claim rules', () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaKey = importVerifyKey(pair.publicKey.export({ format: 'jwk' }) as JWK, 'RS256');
  const now = () => Math.floor(Date.now() / 1000);
  const b64 = (text: string) => Buffer.from(text).toString('base64url');

  /** A fake RemoteKeySet: `known` answers `known`, `candidates` the RSA key; counts the calls. */
  function fakeKeys(known: () => KeyObject[] | undefined = () => [rsaKey]) {
    const calls = { known: 0, candidates: 0 };
    const keys = {
      known: () => (calls.known++, known()),
      candidates: async () => (calls.candidates++, [rsaKey]),
    };
    return { keys: keys as any, calls };
  }

  const check = (overrides: Partial<JwtCheck> = {}): JwtCheck => ({
    issuer: ISSUER,
    audience: 'client',
    algorithms: ['RS256'],
    clockTolerance: 5,
    errorCode: 'invalid_token',
    ...overrides,
  });

  const claims = (overrides: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: 'client', sub: 'alice', iat: now(), exp: now() + 300, ...overrides });

  /** A compact JWS signed with the RSA key (RS256 signature whatever `header.alg` says); `payload` raw when a string. */
  function jws(payload: unknown, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }): string {
    const signingInput = `${b64(JSON.stringify(header))}.${b64(typeof payload === 'string' ? payload : JSON.stringify(payload))}`;
    return `${signingInput}.${sign('sha256', Buffer.from(signingInput), pair.privateKey).toString('base64url')}`;
  }

  function invalidToken(pattern: RegExp, code = 'invalid_token') {
    return (err: unknown): true => {
      assert.ok(err instanceof OpenIDError, `not an OpenIDError: ${String(err)}`);
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    };
  }

  test('one spelling per signature: an extra character or other unused last bits are refused', async () => {
    const { keys } = fakeKeys();
    const token = jws(claims());
    await verifyJwt(token, keys, check());
    // RSA 2048: 256 bytes = 342 characters, the last of which carries 4 unused bits.
    const last = token.at(-1)!;
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = B64URL[B64URL.indexOf(last) ^ 1]!;
    const signature = token.slice(token.lastIndexOf('.') + 1);
    assert.deepEqual(Buffer.from(signature.slice(0, -1) + sibling, 'base64url'), Buffer.from(signature, 'base64url'), 'the same bytes for Buffer');
    await assert.rejects(verifyJwt(token.slice(0, -1) + sibling, keys, check()), invalidToken(/base64url/));
    // An extra character: a 257th byte here (refused by the signature check), no byte at all for a signature of 3n bytes.
    for (const extra of ['A', '_', '0', 'AA']) await assert.rejects(verifyJwt(token + extra, keys, check()), invalidToken(/signature/));
    await assert.rejects(verifyJwt(`${token}AAA`, keys, check()), invalidToken(/base64url/));
  });

  test('a valid token gives its claims', async () => {
    const { keys } = fakeKeys();
    const payload = claims({ scope: 'read' });
    assert.deepEqual(await verifyJwt(jws(payload), keys, check()), payload);
  });

  test('a "crit" header is refused, even listing nothing', async () => {
    for (const crit of [['exp'], ['b64'], [], 'b64']) {
      const { keys } = fakeKeys();
      const token = jws(claims(), { alg: 'RS256', crit, exp: now() + 300, b64: true });
      await assert.rejects(verifyJwt(token, keys, check()), invalidToken(/critical extensions/), JSON.stringify(crit));
      assert.throws(() => verifyJwtNow(token, keys, check()), invalidToken(/critical extensions/));
    }
  });

  test('a payload that is a JSON array (or another non-object) is refused', async () => {
    for (const payload of ['[]', JSON.stringify([claims()]), 'null', '42', '"claims"']) {
      const { keys } = fakeKeys();
      await assert.rejects(verifyJwt(jws(payload), keys, check()), invalidToken(/payload is not a JSON object/), payload);
    }
  });

  test('a header that is not a JSON object is refused', async () => {
    const { keys } = fakeKeys();
    const body = b64(JSON.stringify(claims()));
    for (const header of ['[{"alg":"RS256"}]', 'null', '{"alg":"RS256"']) {
      const signingInput = `${b64(header)}.${body}`;
      const token = `${signingInput}.${sign('sha256', Buffer.from(signingInput), pair.privateKey).toString('base64url')}`;
      await assert.rejects(verifyJwt(token, keys, check()), invalidToken(/header is malformed/), header);
    }
  });

  test('"alg": "none" with an empty signature is refused, even when listed', async () => {
    const unsigned = `${b64('{"alg":"none"}')}.${b64(JSON.stringify(claims()))}.`;
    for (const c of [check(), check({ algorithms: ['none', 'RS256'] })]) {
      const { keys, calls } = fakeKeys();
      await assert.rejects(verifyJwt(unsigned, keys, c), invalidToken(/not a signed JWT/));
      // With a non-empty signature it gets past the shape and is refused for its "alg".
      await assert.rejects(verifyJwt(`${unsigned}AAAA`, keys, c), invalidToken(/algorithm is not allowed/));
      assert.deepEqual(calls, { known: 0, candidates: 0 });
    }
  });

  test('a valid RS256 signature under another "alg" is refused', async () => {
    for (const alg of ['PS256', 'RS384', 'ES256']) {
      const { keys } = fakeKeys();
      await assert.rejects(verifyJwt(jws(claims(), { alg }), keys, check({ algorithms: ['RS256', alg] })), invalidToken(/signature is not valid/), alg);
    }
  });

  test('the claim rules apply, with the check\'s error code', async () => {
    const { keys } = fakeKeys();
    await assert.rejects(verifyJwt(jws(claims({ exp: now() - 10 })), keys, check()), invalidToken(/expired/));
    await assert.rejects(verifyJwt(jws(claims({ aud: 'someone-else' })), keys, check()), invalidToken(/"aud"/));
    await assert.rejects(verifyJwt(jws(claims({ iss: 'https://evil.example' })), keys, check()), invalidToken(/another issuer/));
    await assert.rejects(verifyJwt(jws(claims({ nbf: now() + 60 })), keys, check()), invalidToken(/not valid yet/));
    await assert.rejects(verifyJwt(jws(claims({ exp: undefined })), keys, check()), invalidToken(/"exp" claim is missing/));
    await assert.rejects(verifyJwt(jws(claims()), keys, check({ requiredClaims: ['nonce'] })), invalidToken(/"nonce" claim is missing/));
    await assert.rejects(verifyJwt(jws(`{"iss":"${ISSUER}","aud":"client","exp":1e999}`), keys, check()), invalidToken(/"exp" claim is not a number/));
    await assert.rejects(verifyJwt(jws(claims({ exp: now() - 10 })), keys, check({ errorCode: 'invalid_id_token' })), invalidToken(/expired/, 'invalid_id_token'));
    // Within the check's clock tolerance (5 s).
    assert.equal((await verifyJwt(jws(claims({ exp: now() - 2 })), keys, check())).sub, 'alice');
  });

  test('the same token verified twice gives equal claims (the header is parsed once)', async () => {
    const { keys } = fakeKeys();
    const token = jws(claims({ jti: 'twice' }), { alg: 'RS256', kid: 'k-memo', typ: 'JWT' });
    const first = await verifyJwt(token, keys, check());
    const second = await verifyJwt(token, keys, check());
    assert.deepEqual(second, first);
    assert.equal(second.jti, 'twice');
    assert.deepEqual(verifyJwtNow(token, keys, check()), first);
    // Each call gets its own claims object: changing one does not change the next.
    first.sub = 'mallory';
    assert.equal((await verifyJwt(token, keys, check())).sub, 'alice');
  });

  test('a remembered header does not carry its verdict to another check', async () => {
    const { keys } = fakeKeys();
    const header = { alg: 'RS256', kid: 'k-memo-2' };
    assert.equal((await verifyJwt(jws(claims(), header), keys, check())).sub, 'alice');
    await assert.rejects(verifyJwt(jws(claims(), header), keys, check({ algorithms: ['ES256'] })), invalidToken(/algorithm is not allowed/));
    // And a bad signature under a remembered header is still refused.
    const token = jws(claims(), header);
    const tampered = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    await assert.rejects(verifyJwt(tampered, keys, check()), invalidToken(/signature is not valid/));
  });

  test('the header passed to the key set is the decoded header', async () => {
    const seen: unknown[] = [];
    const keys = { known: (h: unknown) => (seen.push(h), [rsaKey]), candidates: async () => [rsaKey] } as any;
    await verifyJwt(jws(claims(), { alg: 'RS256', kid: 'k-seen' }), keys, check());
    assert.deepEqual(seen, [{ alg: 'RS256', kid: 'k-seen' }]);
  });

  describe('verifyJwtNow', () => {
    test('is undefined when the key is not known yet, without asking candidates()', () => {
      const { keys, calls } = fakeKeys(() => undefined);
      assert.equal(verifyJwtNow(jws(claims()), keys, check()), undefined);
      assert.deepEqual(calls, { known: 1, candidates: 0 });
    });

    test('gives the claims when the key is known', () => {
      const { keys, calls } = fakeKeys();
      const payload = claims({ jti: 'now' });
      assert.deepEqual(verifyJwtNow(jws(payload), keys, check()), payload);
      assert.deepEqual(calls, { known: 1, candidates: 0 });
    });

    test('throws like verifyJwt for a known key and a bad token', () => {
      const { keys } = fakeKeys();
      assert.throws(() => verifyJwtNow(jws(claims({ exp: now() - 60 })), keys, check()), invalidToken(/expired/));
      assert.throws(() => verifyJwtNow('not-a-jwt', keys, check()), invalidToken(/not a signed JWT/));
    });

    test('verifyJwt asks candidates() when the key is not known', async () => {
      const { keys, calls } = fakeKeys(() => undefined);
      assert.equal((await verifyJwt(jws(claims()), keys, check())).sub, 'alice');
      assert.deepEqual(calls, { known: 1, candidates: 1 });
    });

    test('a known empty key list fails with no key, without fetching', async () => {
      const { keys, calls } = fakeKeys(() => []);
      await assert.rejects(verifyJwt(jws(claims()), keys, check()), invalidToken(/no key/));
      assert.throws(() => verifyJwtNow(jws(claims()), keys, check()), invalidToken(/no key/));
      assert.equal(calls.candidates, 0);
    });
  });
});
