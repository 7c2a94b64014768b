import type { Context, Middleware, Next } from 'koa';
import type { JWTPayload } from 'jose';
import { bearerChallenge, readBearer } from './bearer-header.js';
import type { Provider } from './discovery.js';
import { OpenIDError, isOpenIDError } from './errors.js';
import { introspect } from './introspection.js';
import type { ResolvedOptions } from './options.js';
import { missingScopes, tokenScopes } from './scopes.js';
import type { OpenIDState } from './state.js';
import { TokenCache } from './token-cache.js';
import { verifyJwt } from './verify-jwt.js';

/** Options of `provider.bearer(options)` and `provider.required({ bearer: options })`. */
export interface BearerOptions {
  /** Expected `aud` (one of them must match). Default: the `clientId`. */
  audience?: string | string[];
  /** Scopes the token must all have (from `scope` or `scp`). Default: none. */
  scopes?: string[];
  /**
   * Allowed JWS algorithms. Default: the provider's advertised asymmetric ones. `none` is never
   * accepted; `HS256`/`HS384`/`HS512` only when listed here, and then verified with the
   * `clientSecret` (never with a public key).
   */
  algorithms?: string[];
  /** Seconds. Default: the provider's `clockTolerance`. */
  clockTolerance?: number;
  /** A custom rule over the verified claims: return `false` (or throw an `OpenIDError`) to refuse the token. */
  check?: (claims: JWTPayload, ctx: Context) => boolean | void | Promise<boolean | void>;
  /**
   * RFC 7662 introspection: `true` asks the provider about every token (opaque or JWT); `'auto'`
   * (default) only about tokens that are not JWTs, when the provider has an introspection endpoint;
   * `false` never.
   */
  introspection?: boolean | 'auto';
  /** How many verified tokens are remembered. Default `10000`; `0` turns the cache off. */
  cacheMaxEntries?: number;
  /**
   * How long a verified token is remembered at most (never past its `exp`). A revoked token is
   * accepted until then when it was introspected, and until its `exp` when it is a JWT (a JWT is
   * never checked for revocation). Default `60` (seconds).
   */
  cacheMaxAge?: number;
}

interface Verified {
  claims: JWTPayload;
  scopes: string[];
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const HMAC = /^HS(256|384|512)$/;

export interface BearerHost {
  readonly name: string;
  readonly options: ResolvedOptions;
  provider(): Promise<Provider>;
}

function checkBearerOptions(o: BearerOptions, opts: ResolvedOptions): void {
  if (o.algorithms !== undefined) {
    if (!Array.isArray(o.algorithms) || o.algorithms.length === 0) throw new TypeError('bearer(): "algorithms" must be a non-empty array');
    if (o.algorithms.includes('none')) throw new TypeError('bearer(): "algorithms" may not contain "none"');
    if (o.algorithms.some((a) => HMAC.test(a)) && !opts.clientSecret) throw new TypeError('bearer(): HMAC "algorithms" need the "clientSecret"');
  }
  if (o.scopes !== undefined && (!Array.isArray(o.scopes) || !o.scopes.every((s) => typeof s === 'string' && s && !s.includes(' ')))) {
    throw new TypeError('bearer(): "scopes" must be an array of scope tokens');
  }
  if (o.check !== undefined && typeof o.check !== 'function') throw new TypeError('bearer(): "check" must be a function');
}

/**
 * Verifies bearer tokens for one set of options: the engine behind `bearer()` and
 * `required({ bearer })`. A JWT is verified locally (JWKS, `alg`, `iss`, `aud`, `exp`, `nbf`); an
 * opaque token is introspected. Verified tokens are cached by hash until `cacheMaxAge` or `exp`.
 */
export class BearerVerifier {
  readonly #host: BearerHost;
  readonly #o: BearerOptions;
  readonly #cache: TokenCache<Verified>;
  readonly #maxAgeMs: number;
  readonly #secret: Uint8Array | undefined;

  constructor(host: BearerHost, options: BearerOptions = {}) {
    checkBearerOptions(options, host.options);
    this.#host = host;
    this.#o = options;
    this.#cache = new TokenCache(options.cacheMaxEntries ?? 10_000);
    this.#maxAgeMs = (options.cacheMaxAge ?? 60) * 1000;
    this.#secret = host.options.clientSecret ? new TextEncoder().encode(host.options.clientSecret) : undefined;
  }

  /** The token's claims and scopes, or an `OpenIDError` (`invalid_token`, `insufficient_scope`, ...). */
  async verify(token: string, ctx: Context): Promise<OpenIDState> {
    const key = TokenCache.key(token);
    let verified = this.#cache.get(key);
    if (!verified) {
      verified = await this.#verifyUncached(token);
      const exp = typeof verified.claims.exp === 'number' ? verified.claims.exp * 1000 : Infinity;
      this.#cache.set(key, verified, Math.min(exp, Date.now() + this.#maxAgeMs));
    }
    const required = this.#o.scopes ?? [];
    if (required.length && missingScopes(required, verified.scopes).length) {
      throw new OpenIDError('insufficient_scope', 'the token lacks a required scope');
    }
    if (this.#o.check && (await this.#o.check(verified.claims, ctx)) === false) {
      throw new OpenIDError('invalid_token', 'the token was refused by a check of this route');
    }
    return {
      provider: this.#host.name,
      claims: verified.claims,
      scopes: verified.scopes,
      ...(typeof verified.claims.exp === 'number' ? { expiresAt: verified.claims.exp } : {}),
      token: 'bearer',
    };
  }

  async #verifyUncached(token: string): Promise<Verified> {
    const provider = await this.#host.provider();
    const o = this.#o;
    const audience = o.audience ?? this.#host.options.clientId;
    const clockTolerance = o.clockTolerance ?? this.#host.options.clockTolerance;
    const mode = o.introspection ?? 'auto';
    const isJwt = JWT_SHAPE.test(token);
    let claims: JWTPayload;
    if (mode === true || (!isJwt && mode === 'auto')) {
      claims = await introspect(provider, token, { audience, clockTolerance });
    } else if (!isJwt) {
      throw new OpenIDError('invalid_token', 'the token is not a JWT');
    } else {
      claims = await verifyJwt(token, provider.keys, {
        issuer: provider.issuer,
        audience,
        algorithms: o.algorithms ?? provider.idTokenAlgorithms,
        clockTolerance,
        errorCode: 'invalid_token',
        ...(this.#secret ? { hmacSecret: this.#secret } : {}),
      });
      // An ID token (it carries the login's nonce) is no access token, even when its aud fits.
      if (claims.nonce !== undefined) throw new OpenIDError('invalid_token', 'an ID token is not an access token');
    }
    return { claims, scopes: tokenScopes(claims) };
  }
}

/** Puts a verified bearer login into `ctx.state` (same shape as a session login). */
export function exposeBearer(ctx: Context, state: OpenIDState): void {
  ctx.state.user = state.claims;
  ctx.state.openid = state;
}

/** Answers a bearer failure per RFC 6750 §3: status, `WWW-Authenticate`, and a JSON body with the code. */
export function rejectBearer(ctx: Context, realm: string, err: OpenIDError | undefined, requiredScopes?: readonly string[]): void {
  const error = err ?? new OpenIDError('invalid_token', 'a bearer token is required');
  ctx.status = error.status;
  if (error.status === 401 || error.status === 403) ctx.set('WWW-Authenticate', bearerChallenge(realm, err, requiredScopes));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = error.toJSON();
}

/**
 * Checks the request's bearer token with `verifier`. Returns `'none'` when the request has no
 * `Authorization` header, `'ok'` when the token is valid (and exposed in `ctx.state`), `'rejected'`
 * when the answer (401/403, RFC 6750 §3) has been set.
 */
export async function authenticateBearer(
  ctx: Context,
  verifier: BearerVerifier,
  realm: string,
  requiredScopes?: readonly string[],
): Promise<'none' | 'ok' | 'rejected'> {
  try {
    const token = readBearer(ctx);
    if (token === undefined) return 'none';
    exposeBearer(ctx, await verifier.verify(token, ctx));
    return 'ok';
  } catch (err) {
    if (!isOpenIDError(err)) throw err;
    rejectBearer(ctx, realm, err, requiredScopes);
    return 'rejected';
  }
}

/** Middleware: a valid bearer token of this provider is required. */
export function bearer(host: BearerHost, options: BearerOptions = {}): Middleware {
  const verifier = new BearerVerifier(host, options);
  return async function openidBearer(ctx: Context, next: Next) {
    const outcome = await authenticateBearer(ctx, verifier, host.name, options.scopes);
    if (outcome === 'ok') return next();
    if (outcome === 'none') rejectBearer(ctx, host.name, undefined);
  };
}
