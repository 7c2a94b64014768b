import { constants, createHmac, createPublicKey, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
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

interface Algorithm {
  /** The digest node:crypto uses (`null`: EdDSA hashes internally). */
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  kind: 'rsa' | 'rsa-pss' | 'ec' | 'okp' | 'hmac';
  /** EC: the OpenSSL curve name of the key; the raw signature is twice the coordinate length. */
  curve?: string;
  coordinateBytes?: number;
  /** EC and OKP: the JWK `crv` (RFC 7518 §6.2.1.1, RFC 8037 §2). */
  jwkCurve?: string;
}

const ALGORITHMS = new Map<string, Algorithm>(
  Object.entries({
    RS256: { hash: 'sha256', kind: 'rsa' },
    RS384: { hash: 'sha384', kind: 'rsa' },
    RS512: { hash: 'sha512', kind: 'rsa' },
    PS256: { hash: 'sha256', kind: 'rsa-pss' },
    PS384: { hash: 'sha384', kind: 'rsa-pss' },
    PS512: { hash: 'sha512', kind: 'rsa-pss' },
    ES256: { hash: 'sha256', kind: 'ec', curve: 'prime256v1', coordinateBytes: 32, jwkCurve: 'P-256' },
    ES384: { hash: 'sha384', kind: 'ec', curve: 'secp384r1', coordinateBytes: 48, jwkCurve: 'P-384' },
    ES512: { hash: 'sha512', kind: 'ec', curve: 'secp521r1', coordinateBytes: 66, jwkCurve: 'P-521' },
    ES256K: { hash: 'sha256', kind: 'ec', curve: 'secp256k1', coordinateBytes: 32, jwkCurve: 'secp256k1' },
    // EdDSA means Ed25519 here, as in jose 6 (Ed448 ID tokens would need SHAKE256 for at_hash).
    EdDSA: { hash: null, kind: 'okp', jwkCurve: 'Ed25519' },
    Ed25519: { hash: null, kind: 'okp', jwkCurve: 'Ed25519' },
    HS256: { hash: 'sha256', kind: 'hmac' },
    HS384: { hash: 'sha384', kind: 'hmac' },
    HS512: { hash: 'sha512', kind: 'hmac' },
  } satisfies Record<string, Algorithm>),
);

/** Whether `alg` is a JWS algorithm this library verifies (never `none`). */
export const isJwsAlgorithm = (alg: string): boolean => ALGORITHMS.has(alg);

/** Whether `alg` is an asymmetric one (not `HS*`): the only kind ID tokens are accepted with. */
export const isAsymmetricAlgorithm = (alg: string): boolean => {
  const spec = ALGORITHMS.get(alg);
  return spec !== undefined && spec.kind !== 'hmac';
};

/** Whether a JWK may hold a key for `alg`: its `kty` and `crv` (size and validity are checked on import). */
export function jwkSuits(jwk: JWK, alg: string): boolean {
  const spec = ALGORITHMS.get(alg);
  switch (spec?.kind) {
    case 'rsa':
    case 'rsa-pss':
      return jwk.kty === 'RSA';
    case 'ec':
      return jwk.kty === 'EC' && jwk.crv === spec.jwkCurve;
    case 'okp':
      return jwk.kty === 'OKP' && jwk.crv === spec.jwkCurve;
    default:
      return false;
  }
}

/**
 * The hash of an asymmetric `alg` for `at_hash` / `c_hash` (OpenID Connect Core §3.1.3.6; Ed25519:
 * SHA-512, errata set 2), or `undefined` (HMAC and unknown algorithms).
 */
export function tokenHashDigest(alg: string): 'sha256' | 'sha384' | 'sha512' | undefined {
  const spec = ALGORITHMS.get(alg);
  if (!spec || spec.kind === 'hmac') return undefined;
  return spec.hash ?? 'sha512';
}

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
