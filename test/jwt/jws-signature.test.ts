/**
 * src/jws-signature.ts: `importVerifyKey` accepts only a public key of the type, curve and size its
 * algorithm needs, and `verifySignature` accepts only a valid signature, in the exact JWS encoding
 * (RFC 7518), with a key imported for that very algorithm (or a non-empty secret for `HS*`), and
 * never throws. The guard against HMAC/public-key confusion lives in verify-jwt.ts: tested at the end.
 */
import assert from 'node:assert/strict';
import {
  constants,
  createHmac,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { describe, test } from 'node:test';

import { CompactSign, type JWK } from 'jose';

import { OpenIDError } from '../../src/errors.js';
import { importVerifyKey, MIN_RSA_BITS, verifySignature } from '../../src/jwt/jws-signature.js';
import { verifyJwt, verifyJwtNow, type JwtCheck } from '../../src/jwt/verify-jwt.js';

// Key generation is the costly part: each pair is made once for the whole file.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed25519 = generateKeyPairSync('ed25519');
const hmacSecret = new Uint8Array(randomBytes(32));

const jwkOf = (key: KeyObject): JWK => key.export({ format: 'jwk' }) as JWK;
const input = Buffer.from('eyJhbGciOiJ0ZXN0In0.eyJzdWIiOiJhbGljZSJ9', 'latin1');

type Sign = (data: Buffer) => Buffer;
const pkcs1 = (hash: string, key: KeyObject): Sign => (data) => sign(hash, data, { key, padding: constants.RSA_PKCS1_PADDING });
const pss = (hash: string, key: KeyObject, saltLength: number): Sign => (data) =>
  sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
const raw = (hash: string, key: KeyObject): Sign => (data) => sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
const hmac = (hash: string, secret: Uint8Array): Sign => (data) => createHmac(hash, secret).update(data).digest();

interface Case {
  alg: string;
  /** The key `verifySignature` gets: imported for `alg`, or the HMAC secret. */
  key: () => KeyObject | Uint8Array;
  sign: Sign;
  /** The signature length the algorithm produces. */
  length: number;
}

const asymmetric = (alg: string, pair: { publicKey: KeyObject }, signer: Sign, length: number): Case => {
  let key: KeyObject | undefined;
  return { alg, key: () => (key ??= importVerifyKey(jwkOf(pair.publicKey), alg)), sign: signer, length };
};

const CASES: Case[] = [
  asymmetric('RS256', rsa, pkcs1('sha256', rsa.privateKey), 256),
  asymmetric('RS384', rsa, pkcs1('sha384', rsa.privateKey), 256),
  asymmetric('RS512', rsa, pkcs1('sha512', rsa.privateKey), 256),
  asymmetric('PS256', rsa, pss('sha256', rsa.privateKey, 32), 256),
  asymmetric('PS384', rsa, pss('sha384', rsa.privateKey, 48), 256),
  asymmetric('PS512', rsa, pss('sha512', rsa.privateKey, 64), 256),
  asymmetric('ES256', p256, raw('sha256', p256.privateKey), 64),
  asymmetric('ES384', p384, raw('sha384', p384.privateKey), 96),
  asymmetric('ES512', p521, raw('sha512', p521.privateKey), 132),
  asymmetric('EdDSA', ed25519, (data) => sign(null, data, ed25519.privateKey), 64),
  asymmetric('Ed25519', ed25519, (data) => sign(null, data, ed25519.privateKey), 64),
  { alg: 'HS256', key: () => hmacSecret, sign: hmac('sha256', hmacSecret), length: 32 },
  { alg: 'HS384', key: () => hmacSecret, sign: hmac('sha384', hmacSecret), length: 48 },
  { alg: 'HS512', key: () => hmacSecret, sign: hmac('sha512', hmacSecret), length: 64 },
];

function flipBit(buffer: Buffer, bit: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

describe('verifySignature', () => {
  test('MIN_RSA_BITS is the RFC 7518 minimum', () => {
    assert.equal(MIN_RSA_BITS, 2048);
  });

  for (const c of CASES) {
    describe(c.alg, () => {
      test('a valid signature verifies', () => {
        const signature = c.sign(input);
        assert.equal(signature.length, c.length);
        assert.equal(verifySignature(c.alg, c.key(), input, signature), true);
      });

      test('a signature of another input is refused', () => {
        assert.equal(verifySignature(c.alg, c.key(), input, c.sign(Buffer.from('another input'))), false);
      });

      test('a flipped bit in the input is refused', () => {
        const signature = c.sign(input);
        for (const bit of [0, 7, (input.length * 8) >> 1, input.length * 8 - 1]) {
          assert.equal(verifySignature(c.alg, c.key(), flipBit(input, bit), signature), false, `bit ${bit}`);
        }
      });

      test('a flipped bit in the signature is refused', () => {
        const signature = c.sign(input);
        for (const bit of [0, 9, (signature.length * 8) >> 1, signature.length * 8 - 1]) {
          assert.equal(verifySignature(c.alg, c.key(), input, flipBit(signature, bit)), false, `bit ${bit}`);
        }
      });

      test('a truncated or extended signature is refused', () => {
        const signature = c.sign(input);
        assert.equal(verifySignature(c.alg, c.key(), input, signature.subarray(0, -1)), false);
        assert.equal(verifySignature(c.alg, c.key(), input, signature.subarray(1)), false);
        assert.equal(verifySignature(c.alg, c.key(), input, Buffer.concat([signature, Buffer.alloc(1)])), false);
        assert.equal(verifySignature(c.alg, c.key(), input, Buffer.concat([Buffer.alloc(1), signature])), false);
      });

      test('an empty signature is refused', () => {
        assert.equal(verifySignature(c.alg, c.key(), input, Buffer.alloc(0)), false);
      });

      test('random bytes of any length are refused without throwing', () => {
        for (const length of [0, 1, 2, 31, 32, 33, 47, 48, 63, 64, 65, 95, 96, 97, 131, 132, 133, 255, 256, 257, 512, 4096]) {
          const garbage = randomBytes(length);
          let result: boolean | undefined;
          assert.doesNotThrow(() => (result = verifySignature(c.alg, c.key(), input, garbage)), `length ${length}`);
          assert.equal(result, false, `length ${length}`);
        }
      });

      test('all-zero and all-one signatures of the right length are refused', () => {
        assert.equal(verifySignature(c.alg, c.key(), input, Buffer.alloc(c.length)), false);
        assert.equal(verifySignature(c.alg, c.key(), input, Buffer.alloc(c.length, 0xff)), false);
      });
    });
  }

  test('signatures made by jose verify (RS256, PS256, ES256, ES384, EdDSA, HS256)', async () => {
    const pairs = [
      ['RS256', rsa],
      ['PS256', rsa],
      ['ES256', p256],
      ['ES384', p384],
      ['EdDSA', ed25519],
    ] as const;
    for (const [alg, pair] of pairs) {
      const jws = await new CompactSign(new TextEncoder().encode('{"sub":"alice"}')).setProtectedHeader({ alg }).sign(pair.privateKey);
      const dot = jws.lastIndexOf('.');
      const key = importVerifyKey(jwkOf(pair.publicKey), alg);
      const signature = Buffer.from(jws.slice(dot + 1), 'base64url');
      assert.equal(verifySignature(alg, key, Buffer.from(jws.slice(0, dot)), signature), true, alg);
      assert.equal(verifySignature(alg, key, Buffer.from(jws.slice(0, dot) + 'x'), signature), false, alg);
    }
    const jws = await new CompactSign(new TextEncoder().encode('{"sub":"alice"}')).setProtectedHeader({ alg: 'HS256' }).sign(hmacSecret);
    const dot = jws.lastIndexOf('.');
    assert.equal(verifySignature('HS256', hmacSecret, Buffer.from(jws.slice(0, dot)), Buffer.from(jws.slice(dot + 1), 'base64url')), true);
  });

  describe('unknown algorithms', () => {
    const rs256 = () => CASES[0]!;
    for (const alg of ['none', '', 'rs256', 'RS', 'RS1', 'RS256 ', 'HS', 'ES256K1', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      test(`${JSON.stringify(alg)} is refused, with an RSA key and with a secret`, () => {
        const signature = rs256().sign(input);
        assert.equal(verifySignature(alg, rs256().key(), input, signature), false);
        assert.equal(verifySignature(alg, hmacSecret, input, hmac('sha256', hmacSecret)(input)), false);
        assert.equal(verifySignature(alg, hmacSecret, input, Buffer.alloc(0)), false);
      });
    }
  });

  test('garbage keys are refused without throwing', () => {
    const keys: unknown[] = [null, undefined, 0, 'secret', {}, [], { type: 'public' }, new ArrayBuffer(32), createSecretKey(hmacSecret), rsa.privateKey];
    for (const c of CASES) {
      const signature = c.sign(input);
      for (const key of keys) {
        let result: boolean | undefined;
        assert.doesNotThrow(() => (result = verifySignature(c.alg, key as KeyObject, input, signature)), `${c.alg} with ${String(key)}`);
        assert.equal(result, false, `${c.alg} with ${String(key)}`);
      }
    }
  });

  describe('ECDSA encoding', () => {
    test('ES256: a DER signature of the right message is refused (only raw R || S)', () => {
      const der = sign('sha256', input, p256.privateKey); // node's default dsaEncoding: 'der'
      assert.equal(verify('sha256', input, p256.publicKey, der), true, 'the DER signature itself is valid');
      assert.notEqual(der.length, 64);
      assert.equal(verifySignature('ES256', importVerifyKey(jwkOf(p256.publicKey), 'ES256'), input, der), false);
    });

    test('ES384 and ES512: DER signatures are refused', () => {
      assert.equal(verifySignature('ES384', importVerifyKey(jwkOf(p384.publicKey), 'ES384'), input, sign('sha384', input, p384.privateKey)), false);
      assert.equal(verifySignature('ES512', importVerifyKey(jwkOf(p521.publicKey), 'ES512'), input, sign('sha512', input, p521.privateKey)), false);
    });

    test('ES256: a raw signature padded to a DER length is refused', () => {
      const signature = raw('sha256', p256.privateKey)(input);
      const key = importVerifyKey(jwkOf(p256.publicKey), 'ES256');
      assert.equal(verifySignature('ES256', key, input, Buffer.concat([signature, Buffer.alloc(8)])), false);
      assert.equal(verifySignature('ES256', key, input, signature.subarray(0, 32)), false);
      // R and S swapped: still 64 bytes, not the signature.
      assert.equal(verifySignature('ES256', key, input, Buffer.concat([signature.subarray(32), signature.subarray(0, 32)])), false);
    });
  });

  describe('RSA signature length', () => {
    // RFC 8017 §8.1.2/§8.2.2: a signature is exactly as long as the modulus. One whose first octet
    // is 0 is the same integer without it, which OpenSSL takes for PSS: a 1-in-256 chance per
    // signature, so search for such a signature instead of hoping for one.
    for (const [alg, signer] of [['PS256', pss('sha256', rsa.privateKey, 32)], ['RS256', pkcs1('sha256', rsa.privateKey)]] as const) {
      test(`${alg}: a valid signature with its leading zero octet dropped is refused`, () => {
        const key = importVerifyKey(jwkOf(rsa.publicKey), alg);
        let found: { data: Buffer; signature: Buffer } | undefined;
        for (let i = 0; i < 20_000 && !found; i++) {
          const data = Buffer.from(`${input.toString('latin1')}.${i}`, 'latin1');
          const signature = signer(data);
          if (signature[0] === 0) found = { data, signature };
        }
        assert.ok(found, 'a signature with a leading zero octet');
        assert.equal(verifySignature(alg, key, found.data, found.signature), true);
        assert.equal(verifySignature(alg, key, found.data, found.signature.subarray(1)), false);
      });
    }
  });

  describe('RSASSA-PSS salt', () => {
    const key = () => importVerifyKey(jwkOf(rsa.publicKey), 'PS256');
    for (const saltLength of [0, 20, 31, 33, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      test(`PS256: a salt of ${saltLength === constants.RSA_PSS_SALTLEN_MAX_SIGN ? 'the maximum length' : `${saltLength} bytes`} is refused (RFC 7518 §3.5: the digest length)`, () => {
        const signature = pss('sha256', rsa.privateKey, saltLength)(input);
        // The signature is a genuine PSS signature of the input, with its salt length.
        const genuine = verify('sha256', input, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
        assert.equal(genuine, true);
        assert.equal(verifySignature('PS256', key(), input, signature), false);
      });
    }

    test('PS384: a 32-byte salt is refused', () => {
      assert.equal(verifySignature('PS384', importVerifyKey(jwkOf(rsa.publicKey), 'PS384'), input, pss('sha384', rsa.privateKey, 32)(input)), false);
    });
  });

  describe('key confusion', () => {
    test('a key imported for RS256 is refused for PS256, and one for PS256 refused for RS256', () => {
      const forRs = importVerifyKey(jwkOf(rsa.publicKey), 'RS256');
      const forPs = importVerifyKey(jwkOf(rsa.publicKey), 'PS256');
      const rsSignature = pkcs1('sha256', rsa.privateKey)(input);
      const psSignature = pss('sha256', rsa.privateKey, 32)(input);
      assert.equal(verifySignature('PS256', forRs, input, psSignature), false);
      assert.equal(verifySignature('RS256', forPs, input, rsSignature), false);
      // The same signatures with the right key each: the refusals come from the key's algorithm.
      assert.equal(verifySignature('PS256', forPs, input, psSignature), true);
      assert.equal(verifySignature('RS256', forRs, input, rsSignature), true);
    });

    test('a key imported for RS256 is refused for RS384 and RS512 with valid signatures', () => {
      const forRs256 = importVerifyKey(jwkOf(rsa.publicKey), 'RS256');
      for (const [alg, hash] of [['RS384', 'sha384'], ['RS512', 'sha512']] as const) {
        const signature = pkcs1(hash, rsa.privateKey)(input);
        assert.equal(verifySignature(alg, forRs256, input, signature), false, alg);
        assert.equal(verifySignature(alg, importVerifyKey(jwkOf(rsa.publicKey), alg), input, signature), true, alg);
      }
    });

    test('a key imported for ES256 is refused for ES384', () => {
      const forEs256 = importVerifyKey(jwkOf(p256.publicKey), 'ES256');
      // A SHA-384 ECDSA signature with the P-256 key: valid as such, but not an ES384 signature.
      const signature = raw('sha384', p256.privateKey)(input);
      assert.equal(verify('sha384', input, { key: p256.publicKey, dsaEncoding: 'ieee-p1363' }, signature), true);
      assert.equal(verifySignature('ES384', forEs256, input, signature), false);
      // And an ES384 signature of the P-384 key checked with the P-256 key.
      assert.equal(verifySignature('ES384', forEs256, input, raw('sha384', p384.privateKey)(input)), false);
    });

    test('a key imported for EdDSA is refused for Ed25519 and the other way round', () => {
      const signature = sign(null, input, ed25519.privateKey);
      const forEdDSA = importVerifyKey(jwkOf(ed25519.publicKey), 'EdDSA');
      const forEd25519 = importVerifyKey(jwkOf(ed25519.publicKey), 'Ed25519');
      assert.equal(verifySignature('Ed25519', forEdDSA, input, signature), false);
      assert.equal(verifySignature('EdDSA', forEd25519, input, signature), false);
    });

    test('an RSA KeyObject not made by importVerifyKey is refused', () => {
      const signature = pkcs1('sha256', rsa.privateKey)(input);
      assert.equal(verify('sha256', input, rsa.publicKey, signature), true);
      assert.equal(verifySignature('RS256', rsa.publicKey, input, signature), false);
      assert.equal(verifySignature('RS256', createPublicKey({ key: jwkOf(rsa.publicKey) as JsonWebKey, format: 'jwk' }), input, signature), false);
      assert.equal(verifySignature('RS256', rsa.privateKey, input, signature), false);
      assert.equal(verifySignature('EdDSA', ed25519.publicKey, input, sign(null, input, ed25519.privateKey)), false);
    });

    test('an asymmetric key is never an HMAC key', () => {
      const rsKey = importVerifyKey(jwkOf(rsa.publicKey), 'RS256');
      const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
      const mac = hmac('sha256', Buffer.from(pem))(input);
      assert.equal(verifySignature('HS256', rsKey, input, mac), false);
      assert.equal(verifySignature('HS256', rsa.publicKey, input, mac), false);
    });

    test('an empty HMAC secret is refused even with the matching MAC', () => {
      const empty = new Uint8Array(0);
      assert.equal(verifySignature('HS256', empty, input, hmac('sha256', empty)(input)), false);
    });

    test('HS256 takes any bytes as the secret: a public key (PEM, DER, JWK "n") works too', () => {
      // This proves verifySignature has no guard against RFC 8725 §2.1 key confusion for HS*: whoever
      // passes public key bytes as the secret lets anyone MAC tokens with the public key. The guard
      // must therefore be in the caller (verify-jwt.ts only ever passes the client secret): see below.
      const pem = Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }));
      const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
      const n = Buffer.from(jwkOf(rsa.publicKey).n!, 'base64url');
      for (const secret of [pem, der, n]) {
        assert.equal(verifySignature('HS256', secret, input, hmac('sha256', secret)(input)), true);
        assert.equal(verifySignature('HS256', new Uint8Array(secret), input, hmac('sha256', secret)(input)), true);
      }
    });
  });
});

describe('importVerifyKey', () => {
  const refuses = (jwk: unknown, alg: string) => assert.throws(() => importVerifyKey(jwk as JWK, alg), `${alg} accepted a key it must refuse`);

  test('imports a public key of each kind for its algorithms', () => {
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) assert.equal(importVerifyKey(jwkOf(rsa.publicKey), alg).asymmetricKeyType, 'rsa');
    assert.equal(importVerifyKey(jwkOf(p256.publicKey), 'ES256').asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(importVerifyKey(jwkOf(p384.publicKey), 'ES384').asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.equal(importVerifyKey(jwkOf(p521.publicKey), 'ES512').asymmetricKeyDetails?.namedCurve, 'secp521r1');
    assert.equal(importVerifyKey(jwkOf(ed25519.publicKey), 'EdDSA').asymmetricKeyType, 'ed25519');
    assert.equal(importVerifyKey(jwkOf(ed25519.publicKey), 'Ed25519').asymmetricKeyType, 'ed25519');
  });

  test(`refuses an RSA key under ${MIN_RSA_BITS} bits`, () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    for (const alg of ['RS256', 'PS256', 'RS512']) refuses(jwkOf(small.publicKey), alg);
  });

  test('refuses an EC key of another curve', () => {
    refuses(jwkOf(p256.publicKey), 'ES384');
    refuses(jwkOf(p256.publicKey), 'ES512');
    refuses(jwkOf(p384.publicKey), 'ES256');
    refuses(jwkOf(p521.publicKey), 'ES384');
    refuses(jwkOf(p256.publicKey), 'ES256K');
  });

  test('refuses a key of another type', () => {
    refuses(jwkOf(p256.publicKey), 'RS256');
    refuses(jwkOf(p256.publicKey), 'PS256');
    refuses(jwkOf(p256.publicKey), 'EdDSA');
    refuses(jwkOf(ed25519.publicKey), 'ES256');
    refuses(jwkOf(ed25519.publicKey), 'RS256');
    refuses(jwkOf(rsa.publicKey), 'ES256');
    refuses(jwkOf(rsa.publicKey), 'EdDSA');
    refuses(jwkOf(rsa.publicKey), 'Ed25519');
  });

  test('an Ed448 key is refused for Ed25519 and for EdDSA (Ed25519 only, as in jose 6)', () => {
    const ed448 = generateKeyPairSync('ed448');
    refuses(jwkOf(ed448.publicKey), 'Ed25519');
    refuses(jwkOf(ed448.publicKey), 'EdDSA');
  });

  test('refuses an "oct" JWK', () => {
    const oct = { kty: 'oct', k: Buffer.from(hmacSecret).toString('base64url') };
    for (const alg of ['RS256', 'ES256', 'EdDSA', 'HS256']) refuses(oct, alg);
  });

  test('refuses a JWK with a garbage or missing "n"', () => {
    const { e } = jwkOf(rsa.publicKey);
    for (const n of ['!!!', '', 'AAAA', 'A'.repeat(342), 42, null, undefined]) refuses({ kty: 'RSA', n, e }, 'RS256');
    refuses({ kty: 'RSA', n: jwkOf(rsa.publicKey).n }, 'RS256');
  });

  test('refuses malformed EC and OKP JWKs', () => {
    const ec = jwkOf(p256.publicKey);
    refuses({ ...ec, x: undefined }, 'ES256');
    refuses({ ...ec, y: 'AAAA' }, 'ES256');
    refuses({ ...ec, crv: 'P-384' }, 'ES384');
    refuses({ ...ec, crv: 'secp256k1' }, 'ES256');
    refuses({ kty: 'OKP', crv: 'X25519', x: jwkOf(ed25519.publicKey).x }, 'EdDSA');
    refuses({ kty: 'OKP', crv: 'Ed25519', x: '!!' }, 'EdDSA');
    refuses({}, 'RS256');
    refuses(null, 'RS256');
  });

  test('throws for HS* and unknown algorithms', () => {
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      assert.throws(() => importVerifyKey(jwkOf(rsa.publicKey), alg), TypeError);
      assert.throws(() => importVerifyKey({ kty: 'oct', k: 'c2VjcmV0' }, alg), TypeError);
    }
    for (const alg of ['none', '', 'rs256', 'toString', '__proto__', 'constructor']) refuses(jwkOf(rsa.publicKey), alg);
  });

  test('a JWK that holds the private members yields a public key', () => {
    for (const [alg, pair] of [
      ['RS256', rsa],
      ['ES256', p256],
      ['EdDSA', ed25519],
    ] as const) {
      const jwk = jwkOf(pair.privateKey);
      assert.ok(jwk.d, 'the JWK holds "d"');
      const key = importVerifyKey(jwk, alg);
      assert.equal(key.type, 'public', alg);
      assert.deepEqual(key.export({ format: 'jwk' }), jwkOf(pair.publicKey), alg);
    }
    const key = importVerifyKey(jwkOf(rsa.privateKey), 'RS256');
    assert.equal(verifySignature('RS256', key, input, pkcs1('sha256', rsa.privateKey)(input)), true);
    // A public KeyObject cannot sign.
    assert.throws(() => sign('sha256', input, key));
  });
});

/**
 * The HMAC key-confusion guard (RFC 8725 §2.1, §3.1) through verifyJwt: an `HS256` token MACed with
 * the provider's public key, against a key set that only holds that RSA key. verifyJwt must never
 * hand the key set's keys to an `HS*` check, whatever the check says.
 */
describe('verifyJwt: HMAC with a public key', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
  const rsaKey = importVerifyKey(jwkOf(rsa.publicKey), 'RS256');
  const clientSecret = new TextEncoder().encode('the-client-secret-of-this-relying-party');

  function fakeKeys() {
    const calls = { known: 0, candidates: 0 };
    const keys = {
      known: () => (calls.known++, [rsaKey]),
      candidates: async () => (calls.candidates++, [rsaKey]),
    };
    return { keys: keys as any, calls };
  }

  function check(overrides: Partial<JwtCheck> = {}): JwtCheck {
    return { issuer: 'https://op.example', audience: 'client', algorithms: ['RS256', 'HS256'], clockTolerance: 5, errorCode: 'invalid_token', ...overrides };
  }

  const claims = () => ({ iss: 'https://op.example', aud: 'client', sub: 'mallory', exp: now() + 300 });

  function token(alg: string, secret: Uint8Array | KeyObject): string {
    const signingInput = `${b64(JSON.stringify({ alg, typ: 'JWT' }))}.${b64(JSON.stringify(claims()))}`;
    const signature =
      secret instanceof Uint8Array ? createHmac(`sha${alg.slice(2)}`, secret).update(signingInput).digest() : sign('sha256', Buffer.from(signingInput), secret);
    return `${signingInput}.${b64(signature)}`;
  }

  const pem = Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
  const pkcs1Der = rsa.publicKey.export({ type: 'pkcs1', format: 'der' });
  const jwkN = Buffer.from(jwkOf(rsa.publicKey).n!, 'base64url');
  const jwkJson = Buffer.from(JSON.stringify(jwkOf(rsa.publicKey)));

  function isInvalidToken(err: unknown): true {
    assert.ok(err instanceof OpenIDError, `not an OpenIDError: ${String(err)}`);
    assert.equal(err.code, 'invalid_token');
    return true;
  }

  test('control: an RS256 token with that key verifies, and the HS256 token verifies with its own secret', async () => {
    const { keys } = fakeKeys();
    assert.equal((await verifyJwt(token('RS256', rsa.privateKey), keys, check())).sub, 'mallory');
    // The forged tokens below are well-formed: given the public key bytes as the client secret they pass.
    assert.equal((await verifyJwt(token('HS256', pem), keys, check({ hmacSecret: new Uint8Array(pem) }))).sub, 'mallory');
  });

  for (const [name, secret] of [
    ['PEM', pem],
    ['SPKI DER', der],
    ['PKCS#1 DER', pkcs1Der],
    ['JWK "n"', jwkN],
    ['JWK JSON', jwkJson],
  ] as const) {
    test(`an HS256 token MACed with the public key (${name}) is refused, with or without hmacSecret`, async () => {
      const forged = token('HS256', secret);
      for (const c of [check({ hmacSecret: clientSecret }), check(), check({ algorithms: ['RS256'] }), check({ algorithms: ['RS256'], hmacSecret: clientSecret })]) {
        const { keys, calls } = fakeKeys();
        await assert.rejects(verifyJwt(forged, keys, c), isInvalidToken);
        assert.throws(() => verifyJwtNow(forged, keys, c), isInvalidToken);
        // The key set is never asked for a key for an HS* token.
        assert.deepEqual(calls, { known: 0, candidates: 0 });
      }
    });
  }

  test('HS384 and HS512 tokens MACed with the public key are refused too', async () => {
    for (const alg of ['HS384', 'HS512']) {
      const { keys } = fakeKeys();
      await assert.rejects(verifyJwt(token(alg, pem), keys, check({ algorithms: ['RS256', alg], hmacSecret: clientSecret })), isInvalidToken);
      await assert.rejects(verifyJwt(token(alg, pem), keys, check({ algorithms: ['RS256', alg] })), isInvalidToken);
    }
  });
});
