import * as client from 'openid-client';
import { debug } from '../debug.js';
import { OpenIDError } from '../errors.js';
import { readLimited } from './read-body.js';

const TOKEN_STEPS = new Set(['token request', 'refresh']);
const ID_TOKEN_CODES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED']);
/** Steps where this app authenticates as a client: a refusal there is about our credentials. */
const CLIENT_STEPS = new Set(['token request', 'refresh', 'introspection']);
/** RFC 6749 §5.2 errors that refuse the client itself (wrong id or secret, or an auth method it may not use). */
const CLIENT_REFUSALS = new Set(['invalid_client', 'unauthorized_client']);

/** The provider refused this app's client credentials: a configuration problem, never the user's (502). */
function clientRefused(err: unknown, step: string, url: string | undefined, providerError?: string): OpenIDError {
  debug('%s: the provider refused our client credentials (%s)', step, providerError ?? 'a 401 challenge');
  return new OpenIDError('invalid_client', `the provider refused this app's client credentials (${step})`, {
    cause: err,
    url,
    ...(providerError ? { providerError } : {}),
  });
}
/** A 401 body is read this far at most, for its `error` code. */
const MAX_ERROR_BODY = 4096;

/**
 * Maps what openid-client (or fetch) throws during a request to the provider onto an
 * {@link OpenIDError}. Only codes and fixed messages are kept: provider text and tokens that
 * openid-client attaches to its errors stay in `cause`, which is never rendered.
 *
 * An answer with a `WWW-Authenticate` header at a client-authenticated endpoint is judged by the
 * `error` of its body: `invalid_client`/`unauthorized_client` (or a 401 that names none) refuse
 * our client; anything else (Doorkeeper sends the header with every error, `invalid_grant`
 * included) is the request's refusal like any other error body.
 */
export async function fromProviderError(err: unknown, step: string, url?: string): Promise<OpenIDError> {
  if (err instanceof client.WWWAuthenticateChallengeError && CLIENT_STEPS.has(step)) {
    const error = await bodyError(err.response);
    if ((error === undefined && err.status === 401) || (error !== undefined && CLIENT_REFUSALS.has(error))) {
      return clientRefused(err, step, url, error);
    }
    return refusedRequest(err, step, url, err.status, error);
  }
  return mapProviderError(err, step, url);
}

/** The provider refused (4xx: 400) or failed (5xx: 502) the request, with its OAuth error code. */
function refusedRequest(err: unknown, step: string, url: string | undefined, status: number, providerError: string | undefined): OpenIDError {
  const failed = status >= 500;
  return new OpenIDError('token_request_failed', failed ? `the provider failed (${step})` : `the provider refused the request (${step})`, {
    cause: err,
    url,
    status: failed ? 502 : 400,
    ...(providerError ? { providerError } : {}),
  });
}

/** The HTTP status the provider answered with, when the error carries it (openid-client's response errors and challenges do, or their cause). */
export function providerStatus(err: unknown): number | undefined {
  const own = (err as { status?: unknown } | undefined)?.status;
  if (typeof own === 'number') return own;
  const status = ((err as Error | undefined)?.cause as Response | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}

function mapProviderError(err: unknown, step: string, url: string | undefined): OpenIDError {
  if (err instanceof OpenIDError) return err;
  if (err instanceof client.AuthorizationResponseError) {
    return new OpenIDError('provider_error', `the provider refused the login (${step})`, { cause: err, url, providerError: err.error });
  }
  if (err instanceof client.ResponseBodyError) {
    if (CLIENT_STEPS.has(step) && CLIENT_REFUSALS.has(err.error)) return clientRefused(err, step, url, err.error);
    return refusedRequest(err, step, url, err.status, err.error);
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // (At the token and introspection endpoints it answers our client authentication, see above.)
    return new OpenIDError('invalid_token', `the provider refused the access token (${step})`, { cause: err, url });
  }
  const code = (err as { code?: unknown })?.code;
  // openid-client wraps oauth4webapi's precise error in a generic ClientError: read both messages.
  const message = `${String((err as Error)?.message ?? '')} | ${String(((err as Error)?.cause as Error | undefined)?.message ?? '')}`;
  const status = ((err as Error)?.cause as Response | undefined)?.status;
  if ((code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') && status === 400 && TOKEN_STEPS.has(step)) {
    // A refusal without RFC 6749's JSON error body (Glewlwyd answers a spent or revoked refresh
    // token with a bare 400): still a refusal of the grant, not an unreachable provider.
    return new OpenIDError('token_request_failed', `the provider refused the request (${step})`, { cause: err, url, status: 400 });
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && typeof status === 'number' && status >= 500 && TOKEN_STEPS.has(step)) {
    // openid-client raises ResponseBodyError for 4xx only; a 5xx of the token endpoint lands here.
    return new OpenIDError('token_request_failed', `the provider failed (${step})`, { cause: err, url, status: 502 });
  }
  if (timedOut(err)) {
    return new OpenIDError('provider_unavailable', `the provider did not answer in time (${step})`, { cause: err, url, status: 504 });
  }
  if (/"iss" \(issuer\) (response parameter|missing)|response parameter "iss"/.test(message)) {
    return new OpenIDError('issuer_mismatch', 'the authorization response names another issuer, or none (RFC 9207)', { cause: err, url });
  }
  if (/body "sub" property/.test(message)) {
    return new OpenIDError('userinfo_failed', 'the userinfo answer is not about the logged-in user', { cause: err, url });
  }
  if (/"state"/.test(message) && /response parameter/.test(message)) {
    return new OpenIDError('invalid_state', 'the "state" response parameter does not match', { cause: err, url });
  }
  if (typeof code === 'string' && (ID_TOKEN_CODES.has(code) || /ID Token|JWT|"id_token"/.test(message))) {
    const precise = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    return new OpenIDError('invalid_id_token', `the ID token failed a check: ${safeReason(precise)}`, { cause: err, url });
  }
  debug('%s: provider request failed: %s %s', step, typeof code === 'string' ? code : '', message);
  return new OpenIDError('provider_unavailable', `the provider could not be reached or sent an invalid answer (${step})`, { cause: err, url });
}

/**
 * Whether the request timed out: openid-client's `OAUTH_TIMEOUT`, or a `TimeoutError` anywhere in
 * the cause chain (a body that stalled after the headers surfaces as a parse error caused by it).
 */
export function timedOut(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'OAUTH_TIMEOUT' || (e as { name?: unknown }).name === 'TimeoutError') return true;
  }
  return false;
}

/** openid-client's messages name the check (`unexpected JWT "aud" (audience) claim value`); keep that, nothing else. */
function safeReason(message: string): string {
  const m = /^[\w "(),.:-]{1,120}$/.exec(message);
  return m ? m[0] : 'see the logs';
}

/** The `error` code of a (small) JSON error body, or `undefined`. */
async function bodyError(response: Response): Promise<string | undefined> {
  try {
    const text = await readLimited(response, MAX_ERROR_BODY);
    const error = text === undefined ? undefined : (JSON.parse(text) as { error?: unknown })?.error;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}
