import type { Context } from 'koa';
import * as client from 'openid-client';
import type { Provider } from './discovery.js';
import type { ResolvedOptions } from '../options.js';
import { accessToken } from './refresh.js';
import { requestUserInfo } from './userinfo-request.js';

export interface UserInfoOptions {
  /** With a bare access token: the `sub` the answer must name. */
  expectedSubject?: string;
}

/**
 * Calls the userinfo endpoint (OpenID Connect Core §5.3) with the session's access token (refreshed
 * first when it expires within `refreshSkew` and a refresh token exists) or a given one. The answer's `sub` must equal the
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
      : await accessToken(ctxOrToken, opts, async () => provider);
  return requestUserInfo(provider, token, sub);
}
