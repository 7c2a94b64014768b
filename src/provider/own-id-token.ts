import * as client from 'openid-client';

/**
 * openid-client compares an ID token's `iss` with the configured issuer, which for a multi-tenant
 * issuer (`…/{tenantid}/v2.0`) never matches (it special-cases only the real Entra ID host, and
 * then accepts every tenant). For such a provider the token endpoint's answers reach openid-client
 * with the ID token moved aside (under {@link OWN_ID_TOKEN}); the library verifies it itself
 * (jwt/id-token.ts with the tenant rule), signature, nonce and all.
 */
export const OWN_ID_TOKEN = 'koa_session_openid_id_token';

/** Makes `config` hand token-endpoint ID tokens to the library instead of openid-client. */
export function verifyIdTokensOurselves(config: client.Configuration, tokenEndpoint: string): void {
  const base = config[client.customFetch] ?? ((url: string, options: client.CustomFetchOptions) => fetch(url, options as RequestInit));
  config[client.customFetch] = async (url, options) => {
    const response = await base(url, options);
    if (url !== tokenEndpoint || !response.ok || !response.headers.get('content-type')?.includes('json')) return response;
    const body = (await response.json()) as Record<string, unknown>;
    if (body.id_token !== undefined) {
      body[OWN_ID_TOKEN] = body.id_token;
      delete body.id_token;
    }
    return new Response(JSON.stringify(body), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** The ID token of a token response, wherever it was put. */
export function idTokenOf(tokens: client.TokenEndpointResponse): string | undefined {
  const own = (tokens as Record<string, unknown>)[OWN_ID_TOKEN];
  return typeof own === 'string' ? own : tokens.id_token;
}
