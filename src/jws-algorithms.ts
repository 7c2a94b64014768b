import type { JWK } from 'jose';

/**
 * The JWS algorithms this library knows (RFC 7518 §3, RFC 8037, RFC 8812), one table for all who
 * need their facts: the option schemas (names, asymmetric or not), the key set (JWK type and curve),
 * the signature check (jwt/jws-signature.ts) and `at_hash`/`c_hash` (the digest). Adding an
 * algorithm is one line here.
 */

export interface Algorithm {
  /** The digest node:crypto uses (`null`: EdDSA hashes internally). */
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  kind: 'rsa' | 'rsa-pss' | 'ec' | 'okp' | 'hmac';
  /** EC: the OpenSSL curve name of the key; the raw signature is twice the coordinate length. */
  curve?: string;
  coordinateBytes?: number;
  /** EC and OKP: the JWK `crv` (RFC 7518 §6.2.1.1, RFC 8037 §2). */
  jwkCurve?: string;
}

export const ALGORITHMS = new Map<string, Algorithm>(
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
