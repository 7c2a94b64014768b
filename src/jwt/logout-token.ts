import { OpenIDError } from '../errors.js';
import { issuerCheck } from './tenant-issuer.js';
import type { IdTokenIssuer } from './id-token.js';
import { verifyJwt } from './verify-jwt.js';

/** The event a logout token carries (Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** `typ` of a logout token: `logout+jwt` (§2.4 recommends it) or plain `JWT` (what many providers send). */
const LOGOUT_TYP = /^(application\/)?(logout\+)?jwt$/i;
/** How old a logout token's `iat` may be (seconds): a token is delivered at once, not hours later. */
export const LOGOUT_TOKEN_MAX_AGE = 5 * 60;

/** What a valid logout token says, and how long its `jti` must be remembered. */
export interface LogoutToken {
  sid?: string;
  sub?: string;
  jti: string;
  /** When the token can no longer be valid (seconds since the epoch): remember its `jti` until then. */
  validUntil: number;
}

const fail = (what: string) => new OpenIDError('invalid_request', `the logout token failed a check: ${what}`);
const nonEmpty = (v: unknown, max = 255): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/**
 * The checks of Back-Channel Logout 1.0 §2.6 on a logout token: the signature with the provider's
 * keys and an allowed `alg` (never `none`), a `typ` (when present) of `logout+jwt` or `JWT`, `iss`,
 * `aud` containing the client id, `iat` present and recent, `exp` when present, `jti`, the
 * back-channel logout event (an object), `sid` and/or `sub`, and no `nonce` (an ID token is no
 * logout token). Any failure is `invalid_request` (400). The `jti` is not checked for replays here.
 */
export async function checkLogoutToken(provider: IdTokenIssuer, opts: { clientId: string; clockTolerance: number }, token: unknown): Promise<LogoutToken> {
  const claims = await verifyJwt(token, provider.keys, {
    ...issuerCheck(provider),
    audience: opts.clientId,
    algorithms: provider.idTokenAlgorithms,
    clockTolerance: opts.clockTolerance,
    requiredClaims: ['iat', 'jti', 'events'],
    expOptional: true,
    errorCode: 'invalid_request',
    typ: LOGOUT_TYP,
  });
  const now = Date.now() / 1000;
  const iat = claims.iat as number;
  if (iat > now + opts.clockTolerance) throw fail('"iat" is in the future');
  if (iat < now - LOGOUT_TOKEN_MAX_AGE - opts.clockTolerance) throw fail('"iat" is too old');
  if (!nonEmpty(claims.jti)) throw fail('"jti" is missing or invalid');
  const events = claims.events as Record<string, unknown> | undefined;
  const event = typeof events === 'object' && events !== null && !Array.isArray(events) && Object.hasOwn(events, BACKCHANNEL_LOGOUT_EVENT) ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw fail('"events" has no back-channel logout event');
  if (Object.hasOwn(claims, 'nonce')) throw fail('a logout token has no "nonce"');
  const sid = claims.sid;
  const sub = claims.sub;
  if (sid !== undefined && !nonEmpty(sid)) throw fail('"sid" is invalid');
  if (sub !== undefined && !nonEmpty(sub)) throw fail('"sub" is invalid');
  if (sid === undefined && sub === undefined) throw fail('neither "sid" nor "sub" is present');
  const validUntil = (typeof claims.exp === 'number' ? claims.exp : iat + LOGOUT_TOKEN_MAX_AGE) + opts.clockTolerance;
  return { ...(sid !== undefined ? { sid } : {}), ...(sub !== undefined ? { sub } : {}), jti: claims.jti, validUntil };
}
