import type { Context } from 'koa';
import type { JWTPayload } from 'jose';
import { OpenIDError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import type { Provider } from './discovery.js';
import { accessToken } from './refresh.js';

/** Claims already verified for a request: a role guard and the handler's `roles(ctx)` verify once. */
const verified = new WeakMap<Context, Promise<JWTPayload>>();

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
  let claims = verified.get(ctx);
  if (!claims) verified.set(ctx, (claims = verifySessionToken(ctx, opts, getProvider)));
  return claims;
}

async function verifySessionToken(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<JWTPayload> {
  const { token } = await accessToken(ctx, opts, getProvider);
  const provider = await getProvider();
  const claims = await verifyJwt(token, provider.keys, {
    issuer: provider.issuer,
    ...(provider.tenants ? { tenants: provider.tenants } : {}),
    algorithms: provider.idTokenAlgorithms,
    clockTolerance: opts.clockTolerance,
    errorCode: 'invalid_token',
  });
  if (claims.azp !== undefined && claims.azp !== opts.clientId) throw new OpenIDError('invalid_token', 'the access token was issued to another client');
  return claims;
}
