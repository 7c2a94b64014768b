import { createHash } from 'node:crypto';

const DIGEST: Record<string, string> = {
  RS256: 'sha256', PS256: 'sha256', ES256: 'sha256', ES256K: 'sha256',
  RS384: 'sha384', PS384: 'sha384', ES384: 'sha384',
  RS512: 'sha512', PS512: 'sha512', ES512: 'sha512',
  // Ed25519 signs with SHA-512 (OpenID Connect Core errata set 2, §3.1.3.6).
  EdDSA: 'sha512', Ed25519: 'sha512',
};

/**
 * `at_hash` / `c_hash` (OpenID Connect Core §3.2.2.9, §3.3.2.11): the left half of the hash of the
 * token's ASCII, base64url, with the hash of the ID token's `alg`. `undefined` for an alg without
 * a defined hash.
 */
export function tokenHash(value: string, alg: string): string | undefined {
  const digest = DIGEST[alg];
  if (!digest) return undefined;
  const full = createHash(digest).update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}
