import type { Context } from 'koa';
import * as client from 'openid-client';
import type { Provider } from './discovery.js';
import { OpenIDError } from './errors.js';
import { checkIdToken } from './id-token.js';
import { readLogin, removeLogin, writeLogin, type UserLogin } from './login-record.js';
import type { ResolvedOptions } from './options.js';
import { fromProviderError } from './provider-errors.js';
import { sessionOf } from './session-access.js';

/**
 * Uses the stored refresh token to get new tokens. A new ID token must pass every check and name
 * the same `sub` (OpenID Connect Core §12.2; openid-client does not compare it). A refused refresh
 * token ends the login: it is removed and `login_required` is thrown.
 */
export async function refreshLogin(ctx: Context, opts: ResolvedOptions, provider: Provider): Promise<UserLogin> {
  const session = sessionOf(ctx);
  const login = readLogin(session, opts.name);
  if (!login) throw new OpenIDError('login_required', 'log in first');
  const refreshToken = login.tokens.refreshToken;
  if (!refreshToken) throw new OpenIDError('login_required', 'the login has no refresh token: log in again');
  let tokens: client.TokenEndpointResponse;
  try {
    tokens = await client.refreshTokenGrant(provider.config, refreshToken);
  } catch (err) {
    const mapped = fromProviderError(err, 'refresh');
    if (mapped.code === 'token_request_failed' && mapped.status === 400) {
      removeLogin(session, opts.name);
      throw new OpenIDError('login_required', 'the provider refused the refresh token: log in again', {
        cause: err,
        ...(mapped.providerError ? { providerError: mapped.providerError } : {}),
      });
    }
    throw mapped;
  }
  const claims = tokens.id_token
    ? await checkIdToken(provider, opts, tokens.id_token, { sub: login.claims.sub })
    : login.claims;
  const now = Math.floor(Date.now() / 1000);
  const { expiresAt: _old, ...rest } = login;
  const updated: UserLogin = {
    ...rest,
    claims,
    ...(typeof tokens.expires_in === 'number' ? { expiresAt: now + tokens.expires_in } : {}),
    ...(tokens.scope ? { scopes: tokens.scope.split(' ').filter(Boolean) } : {}),
    tokens: {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      refreshToken: tokens.refresh_token ?? refreshToken,
      ...(tokens.id_token ?? login.tokens.idToken ? { idToken: tokens.id_token ?? login.tokens.idToken } : {}),
    },
  };
  writeLogin(session, opts.name, updated);
  return updated;
}
