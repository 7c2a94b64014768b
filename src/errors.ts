/**
 * Every runtime or protocol failure raised by this library is an {@link OpenIDError} with one of
 * these stable codes. Match on `err.code`, never on the message: messages may be reworded.
 *
 * Programmer mistakes found at setup (a missing option, colliding routes) are `TypeError`s instead.
 */
export type OpenIDErrorCode =
  /** A callback or request parameter is missing, repeated, oversized or malformed (400); a malformed bearer `Authorization` header (401). */
  | 'invalid_request'
  /**
   * The callback's `state` is missing, unknown, expired, already used (also by a concurrent
   * callback), dropped because another login of the session finished first, or another provider's. (400)
   */
  | 'invalid_state'
  /** The provider answered the authorization request with an `error` (e.g. `access_denied`). (400) */
  | 'provider_error'
  /** The token endpoint refused the code or refresh token (e.g. `invalid_grant`). (400, or 502 when the provider failed) */
  | 'token_request_failed'
  /** The ID token failed a check: signature, `alg`, `iss`, `aud`/`azp`, `exp`, `iat`, `nonce`, `sub`, ... (400) */
  | 'invalid_id_token'
  /** The RFC 9207 `iss` authorization response parameter is missing or names another issuer (mix-up attack). (400) */
  | 'issuer_mismatch'
  /** The request needs a logged-in user and there is none. (401) */
  | 'login_required'
  /** A bearer token or a JWT given to `verifyToken` is missing, malformed, expired or not signed by the provider. (401) */
  | 'invalid_token'
  /** The token is valid but lacks a required scope. (403) */
  | 'insufficient_scope'
  /** The login is valid, but a `check` of this route refused it. (403) */
  | 'forbidden'
  /** The login or token lacks a role this route requires (Keycloak realm or client role, Azure AD app role). (403) */
  | 'role_required'
  /** A multi-tenant provider's token comes from a tenant the app does not allow (`allowedTenants`). (403) */
  | 'tenant_not_allowed'
  /** The userinfo answer is not about the logged-in user (`sub` differs), or is malformed. (502) */
  | 'userinfo_failed'
  /**
   * The provider refused this app's client credentials or authentication method at its token,
   * refresh or introspection endpoint (`invalid_client`, `unauthorized_client`, a 401 challenge):
   * a configuration problem, not the user's; a refresh refused this way keeps the login. (502)
   */
  | 'invalid_client'
  /** The provider could not be reached, answered with a server error (502), or timed out (504). */
  | 'provider_unavailable'
  /** The discovery document could not be fetched or is invalid (e.g. its `issuer` does not match). (503) */
  | 'discovery_failed'
  /** The session store (Redis) failed or could not be reached. (503) */
  | 'session_unavailable';

/** The HTTP status each code maps to by default. */
export const ERROR_STATUS: Readonly<Record<OpenIDErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  invalid_state: 400,
  provider_error: 400,
  token_request_failed: 400,
  invalid_id_token: 400,
  issuer_mismatch: 400,
  login_required: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  forbidden: 403,
  role_required: 403,
  tenant_not_allowed: 403,
  userinfo_failed: 502,
  invalid_client: 502,
  provider_unavailable: 502,
  discovery_failed: 503,
  session_unavailable: 503,
});

export interface OpenIDErrorOptions {
  /** The underlying error; only its name, code, status and message are kept (never rendered to the client). */
  cause?: unknown;
  /** Overrides the code's default HTTP status. */
  status?: number;
  /** An OAuth error code the provider answered with (`access_denied`, `invalid_grant`, ...), when it is a plain token. */
  providerError?: string;
  /** The URL of the endpoint that failed: only its origin is kept (no path, query or credentials). */
  url?: string | URL | undefined;
  /** Part of an outage that was already reported: answered, but not emitted as an `error` event again. */
  ongoing?: boolean;
}

function originOf(url: string | URL | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

const OAUTH_ERROR_SYNTAX = /^[a-z0-9_.-]{1,64}$/i;

/** What is kept of an underlying error: its kind, never its payload (which may hold tokens). */
export interface ErrorCause {
  name?: string;
  code?: string;
  status?: number;
  message?: string;
  cause?: ErrorCause;
}

/**
 * Keeps the name, code, status and message of an error and of its causes. openid-client and jose
 * attach response bodies and JWT payloads (tokens) to their errors; those never leave this library,
 * so logging an `OpenIDError` with `console.error` or an error tracker cannot leak a token.
 */
function summarize(err: unknown, depth = 0): ErrorCause | undefined {
  if (typeof err !== 'object' || err === null || depth > 3) return undefined;
  const e = err as { name?: unknown; code?: unknown; status?: unknown; message?: unknown; cause?: unknown };
  const out: ErrorCause = {};
  if (typeof e.name === 'string') out.name = e.name;
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.status === 'number') out.status = e.status;
  if (typeof e.message === 'string') out.message = e.message.replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, '[jwt]').slice(0, 300);
  const inner = summarize(e.cause, depth + 1);
  if (inner) out.cause = inner;
  return out;
}

/**
 * The one error class of this library. `message` is written by this library and never contains
 * a token, a secret or text copied from the provider; `providerError` is only set when the provider's
 * error code is a plain identifier.
 */
export class OpenIDError extends Error {
  override readonly name = 'OpenIDError';
  readonly code: OpenIDErrorCode;
  /** HTTP status to answer with. */
  readonly status: number;
  /** The provider's OAuth error code, e.g. `access_denied`, when there was one. */
  readonly providerError?: string;
  /** For Koa's default error handler: the message of a 4xx is safe to show (it never holds a token or secret). */
  readonly expose: boolean;
  /** The origin of the provider endpoint that failed (`https://kc.example.com`), when one did. */
  readonly origin?: string;
  /** `true` for a failure of an outage that was already reported (see `ongoing` in the options). */
  readonly ongoing: boolean;

  constructor(code: OpenIDErrorCode, message: string, options: OpenIDErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause instanceof OpenIDError ? options.cause : summarize(options.cause) });
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.expose = this.status < 500;
    if (typeof options.providerError === 'string' && OAUTH_ERROR_SYNTAX.test(options.providerError)) {
      this.providerError = options.providerError;
    }
    this.ongoing = options.ongoing === true;
    const origin = originOf(options.url);
    if (origin) this.origin = origin;
  }

  /** The first error code in the cause chain (`ECONNREFUSED`, `OAUTH_TIMEOUT`, ...), for diagnostics. */
  get causeCode(): string | undefined {
    for (let c = this.cause as ErrorCause | OpenIDError | undefined; c; c = c.cause as ErrorCause | undefined) {
      if (c instanceof OpenIDError) return c.causeCode ?? c.code;
      if (typeof c.code === 'string') return c.code;
    }
    return undefined;
  }

  /** The JSON body this error is rendered as: `{ error, error_description }`. */
  toJSON(): { error: OpenIDErrorCode; error_description: string; provider_error?: string } {
    return {
      error: this.code,
      error_description: this.message,
      ...(this.providerError ? { provider_error: this.providerError } : {}),
    };
  }
}

export function isOpenIDError(err: unknown): err is OpenIDError {
  return err instanceof OpenIDError;
}
