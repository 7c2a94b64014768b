import type { Context } from 'koa';
import type { JWTPayload } from 'jose';
import { OpenIDError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import { issuerCheck } from '../jwt/tenant-issuer.js';
import { TokenCache } from '../jwt/token-cache.js';
import type { Provider } from './discovery.js';
import { accessToken } from './refresh.js';

/**
 * Session access tokens already verified, per provider, until they expire: a role-guarded route
 * costs a signature check once per token, not once per request (and `roles(ctx)` after the guard
 * is a cache hit).
 */
const verified = new WeakMap<ResolvedOptions, TokenCache<JWTPayload>>();
const CACHED_TOKENS = 1000;

/**
 * The claims of this request's access token, verified: a bearer request's (checked by the bearer
 * guard already), or the session login's, refreshed first when due and verified here (signature,
 * `alg`, `iss`, `exp`; `azp`, when present, must be this client). The session's token came from
 * the token endpoint to this app directly, so its audience is not checked: Keycloak's is often
 * `account`, whatever the client.
 */
export function accessTokenClaims(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<JWTPayload> {
  const openid = ctx.state.openid;
  if (openid?.token === 'bearer' && openid.provider === opts.name) return Promise.resolve(openid.claims);
  return verifySessionToken(ctx, opts, getProvider);
}

async function verifySessionToken(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<JWTPayload> {
  const { token } = await accessToken(ctx, opts, getProvider);
  let cache = verified.get(opts);
  if (!cache) verified.set(opts, (cache = new TokenCache(CACHED_TOKENS)));
  const key = TokenCache.key(token);
  const known = cache.get(key);
  if (known) return known;
  const provider = await getProvider();
  const claims = await verifyJwt(token, provider.keys, {
    ...issuerCheck(provider),
    algorithms: provider.idTokenAlgorithms,
    clockTolerance: opts.clockTolerance,
    errorCode: 'invalid_token',
  });
  if (claims.azp !== undefined && claims.azp !== opts.clientId) throw new OpenIDError('invalid_token', 'the access token was issued to another client');
  if (typeof claims.exp === 'number') cache.set(key, Object.freeze(claims), claims.exp * 1000);
  return claims;
}
