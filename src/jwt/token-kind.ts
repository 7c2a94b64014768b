/**
 * Telling an ID token from an access token. Both may be JWTs signed by the same provider with the
 * same key, and an ID token's `aud` is the client id, which is also `bearer()`'s default audience:
 * a check of signature, `iss`, `aud` and `exp` alone lets an ID token in as an access token, and ID
 * tokens travel far more widely (front channel, `id_token_hint`, browser storage, logs).
 *
 * Every negative signal is read, and any one of them refuses the token:
 * - claims only ID tokens carry (OpenID Connect Core §2, §3.3.2.11): `at_hash`, `c_hash`, `s_hash`,
 *   whatever a `typ` says;
 * - `nonce` (Core §2), unless Keycloak's payload `typ` says `Bearer` (Keycloak before 25 copies
 *   the login's nonce into its access tokens; its ID tokens say `ID`);
 * - Keycloak's payload `typ` of another kind of token: `ID`, `Refresh`, `Offline`, `Logout`.
 *
 * An ID token may carry none of these (no `at_hash` from the token endpoint, Core §3.1.3.6, as
 * Entra ID does; no `nonce` after a refresh). So when the expected audience is the client id, the
 * token must also show one positive signal of an access token: the header `typ` `at+jwt` (RFC
 * 9068), Keycloak's payload `typ` `Bearer`, or a claim no ID token carries: `scope`/`scp` (granted
 * scopes), `client_id` (RFC 9068), `cid` (Okta), `appid`, `azpacr`, `appidacr` (Entra ID).
 */

const ID_TOKEN_ONLY = ['at_hash', 'c_hash', 's_hash'] as const;
const OTHER_KEYCLOAK_TYPES = new Set(['id', 'refresh', 'offline', 'logout']);
const ACCESS_TOKEN_ONLY = ['scope', 'scp', 'client_id', 'cid', 'appid', 'azpacr', 'appidacr'] as const;
const AT_JWT = /^(application\/)?at\+jwt$/i;

export interface TokenKindRules {
  /** The JWS header's `typ` (a JWT; `undefined` for an introspection answer). */
  headerTyp?: unknown;
  /** The expected audience includes the client id: an ID token's audience. A positive signal is then required. */
  audienceIsClient?: boolean;
}

/** Why `claims` (of a JWT, or an introspection answer) are not an access token's, or `undefined`. */
export function notAnAccessToken(claims: Record<string, unknown>, rules: TokenKindRules = {}): string | undefined {
  const typ = typeof claims.typ === 'string' ? claims.typ.toLowerCase() : undefined;
  if (typ !== undefined && OTHER_KEYCLOAK_TYPES.has(typ)) return 'the token is no access token (its "typ" names another kind)';
  if (ID_TOKEN_ONLY.some((claim) => claims[claim] !== undefined)) return 'an ID token is not an access token';
  if (claims.nonce !== undefined && typ !== 'bearer') return 'an ID token is not an access token';
  if (rules.audienceIsClient) {
    const typed = typ === 'bearer' || (typeof rules.headerTyp === 'string' && AT_JWT.test(rules.headerTyp));
    if (!typed && !ACCESS_TOKEN_ONLY.some((claim) => claims[claim] !== undefined)) {
      return 'the token does not show it is an access token (an ID token for this client would look the same)';
    }
  }
  return undefined;
}
