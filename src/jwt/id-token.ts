import type { JWTPayload } from 'jose';
import { OpenIDError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { verifyJwt, type KeySource } from './verify-jwt.js';
import { issuerCheck, type TenantRule } from './tenant-issuer.js';

/** What an ID token is checked against: the provider's issuer, keys and accepted algorithms. */
export interface IdTokenIssuer {
  issuer: string;
  /** A multi-tenant issuer's rule (jwt/tenant-issuer.ts). */
  tenants?: TenantRule | undefined;
  keys: KeySource;
  idTokenAlgorithms: string[];
}

export interface IdTokenExpectations {
  /** The nonce of the login (required for logins; absent in refresh responses, Core §12.2). */
  nonce?: string;
  /** `max_age` sent with the login: `auth_time` must be present and recent enough. */
  maxAge?: number;
  /** On refresh: the `sub` of the original login (Core §12.2). */
  sub?: string;
  /** On refresh: the `iss` of the original login (Core §12.2; a multi-tenant provider's tenant must stay). */
  iss?: string;
  /** On refresh: the original `auth_time`, which a new ID token must repeat when it has one (Core §12.2). */
  authTime?: number;
}

/**
 * Our own check of an ID token (OpenID Connect Core §3.1.3.7), on top of openid-client's: the
 * signature against the provider's JWKS (openid-client skips it in the code and refresh flows),
 * `alg` from the allowed list, `iss`, `aud`, `azp`, `exp`, `iat`, `sub`, `nonce`, `auth_time`.
 */
export async function checkIdToken(
  provider: IdTokenIssuer,
  opts: Pick<ResolvedOptions, 'clientId' | 'clockTolerance'>,
  idToken: unknown,
  expect: IdTokenExpectations,
): Promise<JWTPayload & { sub: string }> {
  if (idToken === undefined) throw new OpenIDError('invalid_id_token', 'the token response has no ID token');
  const claims = await verifyJwt(idToken, provider.keys, {
    ...issuerCheck(provider),
    audience: opts.clientId,
    algorithms: provider.idTokenAlgorithms,
    clockTolerance: opts.clockTolerance,
    requiredClaims: ['iss', 'sub', 'aud', 'iat'],
    errorCode: 'invalid_id_token',
  });
  const fail = (what: string) => new OpenIDError('invalid_id_token', `the ID token failed a check: ${what}`);
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 255) throw fail('"sub" is missing or invalid');
  if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp === undefined) throw fail('"azp" is required with several audiences');
  if (claims.azp !== undefined && claims.azp !== opts.clientId) throw fail('"azp" is not this client');
  if (expect.nonce !== undefined && claims.nonce !== expect.nonce) throw fail('"nonce" does not match');
  if (expect.sub !== undefined && claims.sub !== expect.sub) throw fail('"sub" differs from the logged-in user');
  if (expect.iss !== undefined && claims.iss !== expect.iss) throw fail('"iss" differs from the original login');
  if (expect.authTime !== undefined && claims.auth_time !== undefined && claims.auth_time !== expect.authTime) {
    throw fail('"auth_time" differs from the original login');
  }
  if (expect.maxAge !== undefined) {
    if (typeof claims.auth_time !== 'number') throw fail('"auth_time" is required with max_age');
    if (claims.auth_time + expect.maxAge + opts.clockTolerance < Date.now() / 1000) throw fail('"auth_time" is too old for max_age');
  }
  return claims as JWTPayload & { sub: string };
}
