import type { Context, Middleware, Next } from 'koa';
import type { JWTPayload } from 'jose';
import { bearerChallenge, readBearer } from './bearer-header.js';
import type { Provider } from '../provider/discovery.js';
import { OpenIDError, isOpenIDError } from '../errors.js';
import { isJwsAlgorithm } from '../jws-algorithms.js';
import { introspect } from '../provider/introspection.js';
import { SCOPE_TOKEN, type ResolvedOptions } from '../options.js';
import { missingScopes, tokenScopes } from '../jwt/scopes.js';
import type { OpenIDState } from '../state.js';
import { TokenCache } from '../jwt/token-cache.js';
import { accessTokenCheck, hmacSecretProblem, JWT_SHAPE, verifyJwt, verifyJwtNow, type JwtCheck } from '../jwt/verify-jwt.js';
import { parseOptions } from '../parse-options.js';
import { reportServerError } from '../respond.js';
import { z } from 'zod';

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });
const scopeToken = z.string().regex(SCOPE_TOKEN, { message: 'scope tokens must be printable, without spaces' });

/** Options of `provider.bearer(options)` and `provider.required({ bearer: options })`: one schema, checked at setup. */
export const BearerOptionsSchema = z.strictObject({
  /** Expected `aud` (one of them must match). Default: the `clientId`. */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).nonempty()]).optional(),
  /** Scopes the token must all have (from `scope` or `scp`). Default: none. */
  scopes: z.array(scopeToken).optional(),
  /**
   * Allowed JWS algorithms. Default: the provider's advertised asymmetric ones. `none` is never
   * accepted; `HS256`/`HS384`/`HS512` only when listed here, and then verified with the
   * `clientSecret` (never with a public key), which must be at least as long as the hash (32, 48,
   * 64 bytes; RFC 7518 §3.2), else a `TypeError` at setup.
   */
  algorithms: z.array(z.string().refine(isJwsAlgorithm, { message: 'must be JWS algorithms (never "none")' })).nonempty().optional(),
  /** Seconds. Default: the provider's `clockTolerance`. */
  clockTolerance: z.number().finite().min(0).max(600).optional(),
  /** A custom rule over the verified claims: return `false` (or throw an `OpenIDError`) to refuse the token. */
  check: fn<(claims: JWTPayload, ctx: Context) => boolean | void | Promise<boolean | void>>('check').optional(),
  /**
   * RFC 7662 introspection: `true` asks the provider about every token (opaque or JWT); `'auto'`
   * (default) only about tokens that are not JWTs, when the provider has an introspection endpoint;
   * `false` never.
   */
  introspection: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  /** How many verified tokens are remembered. Default `10000`; `0` turns the cache off. */
  cacheMaxEntries: z.number().int().min(0).default(10_000),
  /**
   * How long a verified token is remembered at most (never past its `exp`). A revoked token is
   * accepted until then when it was introspected, and until its `exp` when it is a JWT (a JWT is
   * never checked for revocation). Default `60` (seconds).
   */
  cacheMaxAge: z.number().finite().min(0).default(60),
});

export type BearerOptions = z.input<typeof BearerOptionsSchema>;

/** Options of `provider.verifyToken(jwt, options)`: the JWT rules of {@link BearerOptionsSchema}, checked on every call. */
export const VerifyTokenOptionsSchema = BearerOptionsSchema.pick({ audience: true, algorithms: true, clockTolerance: true });
export type VerifyTokenOptions = z.input<typeof VerifyTokenOptionsSchema>;
type ResolvedBearerOptions = z.output<typeof BearerOptionsSchema>;

interface Verified {
  claims: JWTPayload;
  scopes: string[];
  /** Whether to keep the result in the cache. */
  cache: boolean;
}

/** How long a refused introspected token is remembered, so a repeated junk token does not reach the provider each time. */
const REFUSAL_MEMORY_MS = 10_000;
/**
 * The cache's admission rule remembers tokens seen once in a bitmap indexed by 18 bits of their
 * hash: no string is retained per one-off token. A false "seen" merely caches a token early.
 */
const SEEN_BITS = 18;
const SEEN_RESET = 100_000;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const sixBits = (c: string) => B64URL.indexOf(c);
/** Freezes `value` and everything in it; iterative, so claims nested thousands deep cannot overflow the stack. */
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length) {
    const v = pending.pop();
    if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const member of Object.values(v)) pending.push(member);
    }
  }
  return value;
}

export interface BearerHost {
  readonly name: string;
  readonly options: ResolvedOptions;
  provider(): Promise<Provider>;
}

/**
 * Verifies bearer tokens for one set of options: the engine behind `bearer()` and
 * `required({ bearer })`. A JWT is verified locally (JWKS, `alg`, `iss`, `aud`, `exp`, `nbf`); an
 * opaque token is introspected. Verified tokens are cached by hash until `cacheMaxAge` or `exp`.
 */
export class BearerVerifier {
  readonly #host: BearerHost;
  readonly #o: ResolvedBearerOptions;
  readonly #cache: TokenCache<OpenIDState>;
  readonly #seen = new Uint8Array(1 << SEEN_BITS);
  #seenCount = 0;
  /** The provider once discovery has succeeded (it never changes afterwards), with its JWT check. */
  #ready: { provider: Provider; jwtCheck: JwtCheck } | undefined;
  readonly #refused: TokenCache<OpenIDError>;
  readonly #inflight = new Map<string, { promise: Promise<OpenIDState>; shared: boolean }>();

  constructor(host: BearerHost, options: BearerOptions = {}) {
    this.#o = parseOptions(BearerOptionsSchema, options, 'bearer()');
    const problem = hmacSecretProblem(this.#o.algorithms ?? [], host.options.clientSecret);
    if (problem) throw new TypeError(`bearer(): ${problem}`);
    this.#host = host;
    this.#cache = new TokenCache(this.#o.cacheMaxEntries);
    this.#refused = new TokenCache(Math.min(this.#o.cacheMaxEntries, 1000));
  }

  /** The required scopes of this check. */
  get scopes(): readonly string[] {
    return this.#o.scopes ?? [];
  }

  /**
   * The token's claims and scopes, or an `OpenIDError` (`invalid_token`, `insufficient_scope`, ...).
   * Answers synchronously when it can (a cached token, or a JWT whose key is known, on a route
   * without a `check` option), else with a promise: callers handle both a throw and a rejection.
   */
  check(token: string, ctx: Context): OpenIDState | Promise<OpenIDState> {
    const key = TokenCache.key(token);
    const state = this.#cache.get(key) ?? this.#verifyNow(key, token);
    return state ? this.#admit(state, ctx) : this.#verifyShared(key, token).then((s) => this.#admit(s, ctx));
  }

  /** The route's own rules over a verified token: the required scopes, then the `check` option. */
  #admit(state: OpenIDState, ctx: Context): OpenIDState | Promise<OpenIDState> {
    const required = this.#o.scopes;
    if (required?.length && missingScopes(required, state.scopes).length) {
      throw new OpenIDError('insufficient_scope', 'the token lacks a required scope');
    }
    const check = this.#o.check;
    if (!check) return state;
    return Promise.resolve(check(state.claims, ctx)).then((ok) => {
      if (ok === false) throw new OpenIDError('invalid_token', 'the token was refused by a check of this route');
      return state;
    });
  }

  /**
   * A JWT verified at once when nothing has to be fetched (provider discovered, key known), else
   * `undefined`. The memory of refused tokens is not consulted: it spares the provider repeated
   * introspection calls, while a local check costs one signature and may now succeed (a key that
   * was unknown a moment ago).
   */
  #verifyNow(key: string, token: string): OpenIDState | undefined {
    const ready = this.#ready;
    if (!ready || this.#o.introspection === true || !JWT_SHAPE.test(token)) return undefined;
    const claims = verifyJwtNow(token, ready.provider.keys, ready.jwtCheck);
    return claims && this.#remember(key, this.#acceptJwt(key, claims), false);
  }

  /** Concurrent requests with the same new token share one verification (one introspection call). */
  #verifyShared(key: string, token: string): Promise<OpenIDState> {
    const refused = this.#refused.get(key);
    if (refused) return Promise.reject(refused);
    const joined = this.#inflight.get(key);
    if (joined) {
      joined.shared = true;
      return joined.promise;
    }
    const entry: { promise: Promise<OpenIDState>; shared: boolean } = { promise: undefined!, shared: false };
    entry.promise = this.#verifyUncached(key, token).then(
      (verified) => this.#remember(key, verified, entry.shared),
      (err: unknown) => {
        // A token the provider called inactive is remembered briefly; outages are not.
        if (err instanceof OpenIDError && err.code === 'invalid_token') this.#refused.set(key, err, Date.now() + REFUSAL_MEMORY_MS);
        throw err;
      },
    ).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, entry);
    return entry.promise;
  }

  /** The state of a verified token; frozen and cached when it is kept or `shared` with other requests. */
  #remember(key: string, verified: Verified, shared: boolean): OpenIDState {
    const { claims, scopes } = verified;
    const state: OpenIDState = {
      provider: this.#host.name,
      claims,
      scopes,
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp } : {}),
      token: 'bearer',
    };
    // Shared by other requests (cached, or joined while in flight): nobody may change it.
    if (verified.cache || shared) deepFreeze(state);
    if (verified.cache) {
      const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity;
      this.#cache.set(key, state, Math.min(exp, Date.now() + this.#o.cacheMaxAge * 1000));
    }
    return state;
  }

  async #verifyUncached(key: string, token: string): Promise<Verified> {
    const provider = await this.#host.provider();
    const o = this.#o;
    const isJwt = JWT_SHAPE.test(token);
    if (o.introspection === true || (!isJwt && o.introspection === 'auto')) {
      const claims = await introspect(provider, token, {
        audience: o.audience ?? this.#host.options.clientId,
        clockTolerance: o.clockTolerance ?? this.#host.options.clockTolerance,
      });
      return { claims, scopes: tokenScopes(claims), cache: true };
    }
    if (!isJwt) throw new OpenIDError('invalid_token', 'the token is not a JWT');
    this.#ready ??= { provider, jwtCheck: accessTokenCheck(provider, this.#host.options, o) };
    return this.#acceptJwt(key, await verifyJwt(token, provider.keys, this.#ready.jwtCheck));
  }

  /** The checks of a verified JWT that only an access token needs, and whether to cache it. */
  #acceptJwt(key: string, claims: JWTPayload): Verified {
    // A JWT is cached the second time it is seen: a stream of one-off tokens (each verified once)
    // then costs no memory, while a client repeating its token hits the cache from its third call.
    const slot = (sixBits(key[0]!) << 12) | (sixBits(key[1]!) << 6) | sixBits(key[2]!);
    const cache = this.#seen[slot] === 1;
    if (!cache) {
      if (++this.#seenCount > SEEN_RESET) {
        this.#seen.fill(0);
        this.#seenCount = 0;
      }
      this.#seen[slot] = 1;
    }
    return { claims, scopes: tokenScopes(claims), cache };
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
  reportServerError(ctx, error);
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
export async function authenticateBearer(ctx: Context, verifier: BearerVerifier, realm: string): Promise<'none' | 'ok' | 'rejected'> {
  try {
    const token = readBearer(ctx);
    if (token === undefined) return 'none';
    exposeBearer(ctx, await verifier.check(token, ctx));
    return 'ok';
  } catch (err) {
    if (!isOpenIDError(err)) throw err;
    rejectBearer(ctx, realm, err, verifier.scopes);
    return 'rejected';
  }
}

/** Middleware: a valid bearer token of this provider is required. */
export function bearer(host: BearerHost, options: BearerOptions = {}): Middleware {
  const verifier = new BearerVerifier(host, options);
  const refuse = (ctx: Context, err: unknown) => {
    if (!isOpenIDError(err)) throw err;
    rejectBearer(ctx, host.name, err, verifier.scopes);
  };
  return function openidBearer(ctx: Context, next: Next) {
    let result: OpenIDState | Promise<OpenIDState> | undefined;
    try {
      const token = readBearer(ctx);
      if (token !== undefined) result = verifier.check(token, ctx);
    } catch (err) {
      return refuse(ctx, err);
    }
    if (result === undefined) return rejectBearer(ctx, host.name, undefined);
    // Answered without any await when the token is cached or its key known: the hot paths.
    if (!(result instanceof Promise)) {
      exposeBearer(ctx, result);
      return next();
    }
    return result.then(
      (state) => {
        exposeBearer(ctx, state);
        return next();
      },
      (err: unknown) => refuse(ctx, err),
    );
  };
}
