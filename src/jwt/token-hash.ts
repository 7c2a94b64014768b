import { createHash } from 'node:crypto';
import { tokenHashDigest } from '../jws-algorithms.js';

/**
 * `at_hash` / `c_hash` (OpenID Connect Core §3.2.2.9, §3.3.2.11): the left half of the hash of the
 * token's ASCII, base64url, with the hash of the ID token's `alg`. `undefined` for an alg without
 * a defined hash, or a value that is not ASCII.
 */
export function tokenHash(value: string, alg: string): string | undefined {
  const digest = tokenHashDigest(alg);
  // Tokens are ASCII: anything else has no defined hash (Node's 'ascii' encoding would keep only
  // the low byte of each character, so "Ł" would hash like "A").
  if (!digest || !/^[\x00-\x7f]*$/.test(value)) return undefined;
  const full = createHash(digest).update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}
