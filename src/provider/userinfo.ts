import type { Context } from 'koa';
import * as client from 'openid-client';
import type { Provider } from './discovery.js';
import { OpenIDError } from '../errors.js';
import { maybeLoginsOf } from '../session/logins.js';
import type { ResolvedOptions } from '../options.js';
import { refreshLogin } from './refresh.js';
import { requestUserInfo } from './userinfo-request.js';

export interface UserInfoOptions {
  /** With a bare access token: the `sub` the answer must name. */
  expectedSubject?: string;
}

/** Seconds before expiry at which a stored access token is refreshed rather than used. */
const EXPIRY_MARGIN = 10;

async function sessionAccessToken(ctx: Context, opts: ResolvedOptions, provider: Provider) {
  let login = await maybeLoginsOf(ctx)?.login(opts.name, true);
  if (!login) throw new OpenIDError('login_required', 'log in first');
  if (login.expiresAt !== undefined && login.expiresAt - EXPIRY_MARGIN <= Date.now() / 1000) {
    login = await refreshLogin(ctx, opts, provider);
  }
  if (!login.tokens.accessToken) throw new OpenIDError('login_required', 'the login has no access token');
  return { token: login.tokens.accessToken, sub: login.claims.sub };
}

/**
 * Calls the userinfo endpoint (OpenID Connect Core §5.3) with the session's access token (refreshed
 * first when expired and a refresh token exists) or a given one. The answer's `sub` must equal the
 * logged-in user's (Core §5.3.2: else the response must not be used).
 */
export async function fetchUserInfo(
  ctxOrToken: Context | string,
  opts: ResolvedOptions,
  provider: Provider,
  options: UserInfoOptions = {},
): Promise<client.UserInfoResponse> {
  const { token, sub } =
    typeof ctxOrToken === 'string'
      ? { token: ctxOrToken, sub: options.expectedSubject }
      : await sessionAccessToken(ctxOrToken, opts, provider);
  return requestUserInfo(provider, token, sub);
}
