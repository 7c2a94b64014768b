import { decodeProtectedHeader, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import type { Provider } from '../provider/discovery.js';
import { OpenIDError } from '../errors.js';
import { checkIdToken } from '../jwt/id-token.js';
import { splitScopes } from '../jwt/scopes.js';
import type { ResolvedOptions } from '../options.js';
import { fromProviderError } from '../provider/provider-errors.js';
import { idTokenOf } from '../provider/own-id-token.js';
import { tokenHash } from '../jwt/token-hash.js';
import type { Transaction } from '../session/pending.js';

/** What a validated authorization response yields, whatever the response type. */
export interface Obtained {
  claims: JWTPayload & { sub: string };
  accessToken?: string;
  tokenType?: string;
  refreshToken?: string;
  idToken: string;
  /**
   * The scopes this grant holds: the token response's `scope`, else the requested ones (RFC 6749
   * §5.1); for implicit responses, whose front-channel `scope` nothing binds, only `openid`.
   */
  scopes: string[];
  /** Seconds. */
  expiresIn?: number;
}

/** Parameters that only the front channel of hybrid/implicit responses carries. */
const FRONT_CHANNEL_TOKENS = ['id_token', 'access_token', 'token_type', 'expires_in'];

/** Checks `at_hash` / `c_hash` of `idToken` against `value` (Core §3.2.2.9, §3.3.2.11). */
function checkHash(idToken: string, claims: JWTPayload, claim: 'at_hash' | 'c_hash', value: string): void {
  const { alg } = decodeProtectedHeader(idToken);
  const expected = typeof alg === 'string' ? tokenHash(value, alg) : undefined;
  if (typeof claims[claim] !== 'string' || expected === undefined || claims[claim] !== expected) {
    throw new OpenIDError('invalid_id_token', `the ID token failed a check: "${claim}" is missing or does not match`);
  }
}

function frontChannelIdToken(params: URLSearchParams): string {
  const idToken = params.get('id_token');
  if (!idToken) throw new OpenIDError('invalid_request', 'the callback has no "id_token" parameter');
  return idToken;
}

/** Exchanges the code (openid-client checks PKCE, state, RFC 9207 `iss`, and the ID token's claims). */
async function exchangeCode(provider: Provider, tx: Transaction, params: URLSearchParams, state: string, frontIssuerChecked: boolean) {
  const currentUrl = new URL(tx.redirectUri);
  const codeParams = new URLSearchParams(params);
  for (const key of FRONT_CHANNEL_TOKENS) codeParams.delete(key);
  // A hybrid response may leave out RFC 9207's `iss`: its ID token's `iss` was verified instead.
  if (frontIssuerChecked && !codeParams.has('iss')) codeParams.set('iss', provider.issuer);
  // A multi-tenant `iss` (one tenant's issuer) was checked by the callback; openid-client would compare it with the template.
  if (provider.tenants) codeParams.delete('iss');
  currentUrl.search = codeParams.toString();
  try {
    // A multi-tenant provider's ID token reaches only our own check, nonce and max_age included
    // (provider/own-id-token.ts): openid-client would expect one whenever it checks those.
    const idTokenChecks = provider.tenants
      ? { idTokenExpected: false }
      : { expectedNonce: tx.nonce, idTokenExpected: true, ...(tx.maxAge !== undefined ? { maxAge: tx.maxAge } : {}) };
    return await client.authorizationCodeGrant(provider.config, currentUrl, { pkceCodeVerifier: tx.verifier, expectedState: state, ...idTokenChecks });
  } catch (err) {
    throw await fromProviderError(err, 'token request', provider.server.token_endpoint);
  }
}

/**
 * Validates the authorization response of `opts.responseType` (state, iss and error were checked
 * already) and returns the validated claims and tokens. Every ID token, front or back channel,
 * goes through {@link checkIdToken}; the front channel's is bound to the code by `c_hash` (hybrid)
 * or to the access token by `at_hash` (implicit), and the back channel's must name the same `iss`
 * and `sub` (Core §3.3.3.6).
 */
export async function validateResponse(
  provider: Provider,
  opts: ResolvedOptions,
  tx: Transaction,
  params: URLSearchParams,
  state: string,
): Promise<Obtained> {
  const expect = { nonce: tx.nonce, ...(tx.maxAge !== undefined ? { maxAge: tx.maxAge } : {}) };
  const requested = splitScopes(tx.scope);

  if (opts.responseType === 'id_token' || opts.responseType === 'id_token token') {
    const idToken = frontChannelIdToken(params);
    const claims = await checkIdToken(provider, opts, idToken, expect);
    // Nothing binds the front channel's `scope` (the user can edit, add or drop it in their own form
    // post), so it proves no grant: an implicit login records only `openid`, which the verified ID
    // token itself proves. Scope guards need a grant stated by the token endpoint (code, hybrid).
    const scopes = ['openid'];
    if (opts.responseType === 'id_token') return { claims, idToken, scopes };
    const accessToken = params.get('access_token');
    if (!accessToken) throw new OpenIDError('invalid_request', 'the callback has no "access_token" parameter');
    if (params.get('token_type')?.toLowerCase() !== 'bearer') throw new OpenIDError('invalid_request', 'the callback\'s "token_type" is not Bearer');
    checkHash(idToken, claims, 'at_hash', accessToken);
    const expiresIn = Number(params.get('expires_in'));
    return {
      claims,
      idToken,
      accessToken,
      tokenType: 'Bearer',
      ...(Number.isInteger(expiresIn) && expiresIn > 0 ? { expiresIn } : {}),
      scopes,
    };
  }

  const code = params.get('code');
  if (!code) throw new OpenIDError('invalid_request', 'the callback has no "code" parameter');
  let front: JWTPayload | undefined;
  if (opts.responseType === 'code id_token') {
    const idToken = frontChannelIdToken(params);
    front = await checkIdToken(provider, opts, idToken, expect);
    checkHash(idToken, front, 'c_hash', code);
  }
  const tokens = await exchangeCode(provider, tx, params, state, front !== undefined);
  const idToken = idTokenOf(tokens);
  const claims = await checkIdToken(provider, opts, idToken, expect);
  if (front && (front.sub !== claims.sub || front.iss !== claims.iss)) {
    throw new OpenIDError('invalid_id_token', 'the ID token failed a check: the two ID tokens name different users');
  }
  return {
    claims,
    idToken: idToken!,
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    scopes: typeof tokens.scope === 'string' ? splitScopes(tokens.scope) : requested,
    ...(typeof tokens.expires_in === 'number' ? { expiresIn: tokens.expires_in } : {}),
  };
}
