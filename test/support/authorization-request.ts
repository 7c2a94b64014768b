import * as oidc from 'openid-client';

/** A code-flow authorization request with fresh `state`, `nonce` and PKCE (S256): its URL and the values to check the answer with. */
export async function authorizationRequest(config: oidc.Configuration, redirectUri: string, params: Record<string, string> = {}, verifier = oidc.randomPKCECodeVerifier()) {
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
  return { url, verifier, state, nonce };
}
