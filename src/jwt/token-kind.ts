/**
 * Telling an ID token from an access token. Both may be JWTs signed by the same provider with the
 * same key, for the same `aud` (an app that is its own API), so a check of signature, `iss`,
 * `aud` and `exp` alone lets an ID token in as an access token: ID tokens travel far more widely
 * (front channel, `id_token_hint`, browser storage, logs).
 *
 * Every signal is read, and any one of them refuses the token:
 * - claims only ID tokens carry (OpenID Connect Core §2, §3.3.2.11): `at_hash`, `c_hash`, `s_hash`,
 *   whatever a `typ` says;
 * - `nonce` (Core §2), unless Keycloak's payload `typ` says `Bearer` (Keycloak before 25 copies
 *   the login's nonce into its access tokens; its ID tokens say `ID`);
 * - Keycloak's payload `typ` of another kind of token: `ID`, `Refresh`, `Offline`, `Logout`.
 */

const ID_TOKEN_ONLY = ['at_hash', 'c_hash', 's_hash'] as const;
const OTHER_KEYCLOAK_TYPES = new Set(['id', 'refresh', 'offline', 'logout']);

/** Why `claims` (of a JWT, or an introspection answer) are not an access token's, or `undefined`. */
export function notAnAccessToken(claims: Record<string, unknown>): string | undefined {
  const typ = typeof claims.typ === 'string' ? claims.typ.toLowerCase() : undefined;
  if (typ !== undefined && OTHER_KEYCLOAK_TYPES.has(typ)) return 'the token is no access token (its "typ" names another kind)';
  if (ID_TOKEN_ONLY.some((claim) => claims[claim] !== undefined)) return 'an ID token is not an access token';
  if (claims.nonce !== undefined && typ !== 'bearer') return 'an ID token is not an access token';
  return undefined;
}
