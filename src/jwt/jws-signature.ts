import { constants, createHmac, createPublicKey, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ALGORITHMS, type Algorithm } from '../jws-algorithms.js';
import type { JWK } from 'jose';

/**
 * JWS signature checks (RFC 7515 §5.2, algorithms of RFC 7518 §3, RFC 8037 and RFC 8812) with
 * node:crypto, synchronously. jose 6 verifies through WebCrypto, which hands every signature to
 * libuv's thread pool; for one token that hop costs more than the check itself (RS256: ~25 µs
 * here against ~60-80 µs through jose; `npm run bench` measures the route). The claims are
 * checked by claims.ts (see verify-jwt.ts).
 */

/** A key that may check a signature: a public key, or the client secret for `HS*`. */
export type VerifyKey = KeyObject | Uint8Array;

/** RFC 7518 §3.3 and §3.5: RSA keys of fewer bits are refused (as jose does). */
export const MIN_RSA_BITS = 2048;

/** The algorithm each key was imported for: a key only ever checks signatures of that algorithm. */
const importedFor = new WeakMap<KeyObject, string>();

/** Whether `key` is of the type and size `alg` needs. */
function fits(spec: Algorithm, key: KeyObject): boolean {
  if (key.type !== 'public') return false;
  const type = key.asymmetricKeyType;
  switch (spec.kind) {
    case 'rsa':
    case 'rsa-pss':
      return type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'ec':
      return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === spec.curve;
    case 'okp':
      return type === 'ed25519';
    default:
      return false;
  }
}

/**
 * The public key of `jwk` for `alg`. Throws when the JWK is malformed or does not suit `alg`
 * (wrong type or curve, an RSA modulus under 2048 bits).
 */
export function importVerifyKey(jwk: JWK, alg: string): KeyObject {
  const spec = ALGORITHMS.get(alg);
  if (!spec || spec.kind === 'hmac') throw new TypeError(`"${alg}" is not an asymmetric JWS algorithm`);
  // Only the public members: a JWK that also holds "d" must not turn into a private key here.
  const { kty, n, e, crv, x, y } = jwk;
  const key = createPublicKey({ key: { kty, n, e, crv, x, y } as JsonWebKey, format: 'jwk' });
  if (!fits(spec, key)) throw new TypeError(`the key does not suit "${alg}" (type, curve or size)`);
  importedFor.set(key, alg);
  return key;
}

/**
 * Whether `signature` is a valid `alg` signature of `input` with `key` (a key from
 * {@link importVerifyKey} for this very `alg`, or the secret for `HS*`). Never throws: an unknown
 * algorithm, any other key, or a malformed signature is `false`.
 */
export function verifySignature(alg: string, key: VerifyKey, input: Buffer, signature: Buffer): boolean {
  const spec = ALGORITHMS.get(alg);
  if (!spec) return false;
  try {
    if (spec.kind === 'hmac') {
      if (!(key instanceof Uint8Array) || key.length === 0) return false;
      const mac = createHmac(spec.hash!, key).update(input).digest();
      return mac.length === signature.length && timingSafeEqual(mac, signature);
    }
    if (key instanceof Uint8Array || importedFor.get(key) !== alg) return false;
    // RFC 8017 §8.1.2 and §8.2.2, step 1: exactly as long as the modulus. OpenSSL also takes a
    // signature whose leading zero octet was dropped (the same integer).
    if ((spec.kind === 'rsa' || spec.kind === 'rsa-pss') && signature.length !== Math.ceil(key.asymmetricKeyDetails!.modulusLength! / 8)) return false;
    switch (spec.kind) {
      case 'rsa':
        return verify(spec.hash, input, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'rsa-pss':
        // RFC 7518 §3.5: the salt is as long as the digest.
        return verify(spec.hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
      case 'ec':
        // RFC 7518 §3.4: R || S, each exactly the coordinate length (no DER).
        if (signature.length !== 2 * spec.coordinateBytes!) return false;
        return verify(spec.hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature);
      default:
        return verify(null, input, key, signature);
    }
  } catch {
    return false;
  }
}
