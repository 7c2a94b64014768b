import * as client from 'openid-client';
import type { JWTPayload } from 'jose';
import type { Provider } from './discovery.js';
import { claimsProblem, isNumericDate } from '../jwt/claims.js';
import { notAnAccessToken } from '../jwt/token-kind.js';
import { OpenIDError } from '../errors.js';
import { fromProviderError } from './provider-errors.js';

export interface IntrospectionCheck {
  /** Expected audience: when given, the answer's `aud` must contain one of these. */
  audience?: string | string[];
  /** Seconds. */
  clockTolerance: number;
}

/**
 * Asks the provider about an opaque token (RFC 7662). `active` must be `true`; `exp`, `nbf`, `iss`
 * and `aud` in the answer are checked like a JWT's. Returns the answer as claims.
 */
export async function introspect(provider: Provider, token: string, check: IntrospectionCheck): Promise<JWTPayload> {
  if (typeof provider.server.introspection_endpoint !== 'string') {
    throw new OpenIDError('invalid_token', 'the token is not a JWT and the provider offers no introspection');
  }
  let answer: client.IntrospectionResponse;
  try {
    // RFC 7662 §2.1: the hint lets the provider look among access tokens first.
    answer = await client.tokenIntrospection(provider.config, token, { token_type_hint: 'access_token' });
  } catch (err) {
    const mapped = await fromProviderError(err, 'introspection', provider.server.introspection_endpoint);
    // A refusal of our own credentials (400 invalid_client, or 401 with a challenge, RFC 6749 §5.2)
    // is the provider's or our configuration's fault, never the caller's token's.
    if (mapped.code === 'token_request_failed') {
      throw new OpenIDError('provider_unavailable', 'the introspection request failed', { cause: err, status: 502, url: provider.server.introspection_endpoint });
    }
    throw mapped;
  }
  if (answer.active !== true) throw new OpenIDError('invalid_token', 'the token is not active');
  // RFC 7662 §2.2: every claim besides "active" is optional; those present are checked like a JWT's.
  // Malformed dates are the provider's fault, not the caller's (and not remembered as a refusal);
  // "iat" is only informational.
  if (!(['exp', 'nbf'] as const).every((claim) => answer[claim] === undefined || isNumericDate(answer[claim]))) {
    throw new OpenIDError('provider_unavailable', 'the introspection answer is malformed', { status: 502, url: provider.server.introspection_endpoint });
  }
  const problem =
    claimsProblem(answer, { issuer: provider.issuer, audience: check.audience, clockTolerance: check.clockTolerance, required: [], dates: [] }) ??
    // Keycloak introspects ID and refresh tokens too, and calls them active.
    notAnAccessToken(answer);
  if (problem) throw new OpenIDError('invalid_token', problem);
  return answer as unknown as JWTPayload;
}
