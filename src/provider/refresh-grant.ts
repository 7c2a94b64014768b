import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { debug } from '../debug.js';
import { userInfoClaims } from './userinfo-request.js';
import type { Provider } from './discovery.js';
import { OpenIDError } from '../errors.js';
import { checkIdToken } from '../jwt/id-token.js';
import { splitScopes } from '../jwt/scopes.js';
import type { SessionLogins } from '../session/logins.js';
import type { UserLogin } from '../state.js';
import type { ResolvedOptions } from '../options.js';
import { fromProviderError, providerStatus } from './provider-errors.js';
import { idTokenOf } from './own-id-token.js';

/**
 * Stores a refreshed login unless another request changed the stored one meanwhile: a refresh
 * elsewhere (its login, read back, is the current one) or a logout (`login_required`; the logout
 * stands).
 */
async function store(logins: SessionLogins, name: string, login: UserLogin): Promise<UserLogin> {
  const outcome = await logins.replaceLogin(name, login);
  if (outcome === 'replaced') return login;
  const current = outcome === 'changed' ? await logins.login(name, true) : undefined;
  if (!current) throw new OpenIDError('login_required', 'the login ended meanwhile: log in again');
  return current;
}

/**
 * One refresh grant for `login` (read with its tokens), stored in place of it. A new ID token must
 * pass every check and name the same `sub` (and `auth_time`; OpenID Connect Core §12.2, which
 * openid-client does not compare). A refused refresh token (`invalid_grant`: the provider session
 * ended, or a rotated token was reused) ends the login: it is removed and `login_required` thrown.
 * A provider that fails or does not answer: 502/504, and the login stays as it was.
 */
export async function refreshGrant(logins: SessionLogins, opts: ResolvedOptions, provider: Provider, login: UserLogin): Promise<UserLogin> {
  const refreshToken = login.tokens.refreshToken;
  if (!refreshToken) throw new OpenIDError('login_required', 'the login has no refresh token: log in again');
  let tokens: client.TokenEndpointResponse;
  try {
    tokens = await client.refreshTokenGrant(provider.config, refreshToken);
  } catch (err) {
    const mapped = await fromProviderError(err, 'refresh', provider.server.token_endpoint);
    // Only a refusal of the grant itself (RFC 6749 §5.2: 400 invalid_grant, or a bare 400) ends the
    // login; throttling (429) or a complaint about the request is no verdict on the refresh token.
    const refused = mapped.code === 'token_request_failed' && providerStatus(err) === 400 && (mapped.providerError ?? 'invalid_grant') === 'invalid_grant';
    if (refused) {
      // Unless another request replaced it meanwhile (a refresh whose lock outlived its holder).
      await logins.removeLogin(opts.name, { unchanged: true });
      throw new OpenIDError('login_required', 'the provider refused the refresh token: log in again', {
        cause: err,
        ...(mapped.providerError ? { providerError: mapped.providerError } : {}),
      });
    }
    throw mapped;
  }
  const idToken = idTokenOf(tokens);
  const fresh = idToken
    ? await checkIdToken(provider, opts, idToken, {
        sub: login.claims.sub,
        ...(typeof login.claims.iss === 'string' ? { iss: login.claims.iss } : {}),
        ...(typeof login.claims.auth_time === 'number' ? { authTime: login.claims.auth_time } : {}),
      })
    : undefined;
  // The userinfo claims stay (the new ID token's win, as at login) until userinfo is asked again below.
  // So does the provider session's `sid` when the new ID token leaves it out (most do on refresh):
  // the login is indexed by it, and a logout from the provider names it.
  const sid = login.claims.sid;
  const claims = fresh ? { ...login.userInfo, ...(sid === undefined ? {} : { sid }), ...fresh } : login.claims;
  const now = Math.floor(Date.now() / 1000);
  const { expiresAt: _old, ...rest } = login;
  let updated: UserLogin = {
    ...rest,
    claims,
    ...(typeof tokens.expires_in === 'number' ? { expiresAt: now + tokens.expires_in } : {}),
    ...(tokens.scope ? { scopes: splitScopes(tokens.scope) } : {}),
    tokens: {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      refreshToken: tokens.refresh_token ?? refreshToken,
      ...(idToken ?? login.tokens.idToken ? { idToken: idToken ?? login.tokens.idToken } : {}),
    },
  };
  updated = await store(logins, opts.name, updated);
  if (opts.userInfo && tokens.access_token) {
    // Option userInfo: its claims follow the refreshed grant too. The new tokens are stored already;
    // when userinfo fails now, the claims stay as they were.
    try {
      const userInfo = await userInfoClaims(provider, tokens.access_token, login.claims.sub);
      const idClaims = fresh ?? (login.tokens.idToken ? decodeJwt(login.tokens.idToken) : login.claims);
      updated = await store(logins, opts.name, { ...updated, userInfo, claims: { ...userInfo, ...(sid === undefined ? {} : { sid }), ...idClaims, sub: login.claims.sub } });
    } catch (err) {
      debug('refresh of "%s": userinfo failed (%s); the claims stay as they were', opts.name, (err as { code?: string }).code ?? 'error');
    }
  }
  return updated;
}
