import { createHash } from 'node:crypto';
import { tokenHashDigest } from '../jws-algorithms.js';

/**
 * `at_hash` / `c_hash` (OpenID Connect Core §3.2.2.9, §3.3.2.11): the left half of the hash of the
 * token's ASCII, base64url, with the hash of the ID token's `alg`. `undefined` for an alg without
 * a defined hash.
 */
export function tokenHash(value: string, alg: string): string | undefined {
  const digest = tokenHashDigest(alg);
  if (!digest) return undefined;
  const full = createHash(digest).update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}
