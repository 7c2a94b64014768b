import * as client from 'openid-client';
import type { Provider } from './discovery.js';
import { OpenIDError } from '../errors.js';
import { fromProviderError } from './provider-errors.js';

/**
 * One call to the userinfo endpoint (OpenID Connect Core §5.3) with `token`. The answer must name a
 * `sub`, and `expectedSub` when given (Core §5.3.2: else the response must not be used).
 */
export async function requestUserInfo(provider: Provider, token: string, expectedSub: string | undefined): Promise<client.UserInfoResponse> {
  if (!token || token.length > 16 * 1024) throw new OpenIDError('invalid_token', 'no usable access token');
  let info: client.UserInfoResponse;
  try {
    info = await client.fetchUserInfo(provider.config, token, expectedSub ?? client.skipSubjectCheck);
  } catch (err) {
    throw await fromProviderError(err, 'userinfo', provider.server.userinfo_endpoint);
  }
  if (typeof info.sub !== 'string') throw new OpenIDError('userinfo_failed', 'the userinfo answer has no "sub"', { url: provider.server.userinfo_endpoint });
  return info;
}

/**
 * The claims userinfo adds to a login (option `userInfo`), without `sub`, for a fresh access token
 * of the user `sub`. The provider refusing the token it has just issued is its failure
 * (`userinfo_failed`, 502), not the user's.
 */
export async function userInfoClaims(provider: Provider, accessToken: string, sub: string): Promise<Record<string, unknown>> {
  try {
    const { sub: _sub, ...claims } = await requestUserInfo(provider, accessToken, sub);
    return claims;
  } catch (err) {
    if (err instanceof OpenIDError && err.code === 'invalid_token') {
      throw new OpenIDError('userinfo_failed', 'the provider refused its own new access token at userinfo', { cause: err, url: provider.server.userinfo_endpoint });
    }
    throw err;
  }
}
