import type { Context, Middleware, Next } from 'koa';
import type { JWTPayload } from 'jose';
import { bearerChallenge, readBearer } from './bearer-header.js';
import type { Provider } from './discovery.js';
import { OpenIDError, isOpenIDError } from './errors.js';
import { introspect } from './introspection.js';
import { SCOPE_TOKEN, type ResolvedOptions } from './options.js';
import { missingScopes, tokenScopes } from './scopes.js';
import type { OpenIDState } from './state.js';
import { TokenCache } from './token-cache.js';
import { accessTokenCheck, JWT_SHAPE, verifyJwt, type JwtCheck } from './verify-jwt.js';
import { parseOptions } from './parse-options.js';
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
   * `clientSecret` (never with a public key).
   */
  algorithms: z.array(z.string().regex(/^(RS|PS|ES|HS)(256|384|512)$|^ES256K$|^EdDSA$|^Ed25519$/, { message: 'must be JWS algorithms (never "none")' })).nonempty().optional(),
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
/** An ID token is no access token, whatever its `aud`: these claims only ID tokens carry. */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'] as const;

/** Keycloak says what a token is (`typ: "Bearer"` or `"ID"`); elsewhere the ID-token-only claims tell. */
function isIdToken(claims: JWTPayload): boolean {
  if (typeof claims.typ === 'string') return claims.typ === 'ID';
  return ID_TOKEN_CLAIMS.some((c) => claims[c] !== undefined);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
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
  #jwtCheck: JwtCheck | undefined;
  readonly #refused: TokenCache<OpenIDError>;
  readonly #inflight = new Map<string, { promise: Promise<OpenIDState>; shared: boolean }>();

  constructor(host: BearerHost, options: BearerOptions = {}) {
    this.#o = parseOptions(BearerOptionsSchema, options, 'bearer()');
    if (this.#o.algorithms?.some((a) => a.startsWith('HS')) && !host.options.clientSecret) {
      throw new TypeError('bearer(): HMAC "algorithms" need the "clientSecret"');
    }
    this.#host = host;
    this.#cache = new TokenCache(this.#o.cacheMaxEntries);
    this.#refused = new TokenCache(Math.min(this.#o.cacheMaxEntries, 1000));
  }

  /** The required scopes of this check. */
  get scopes(): readonly string[] {
    return this.#o.scopes ?? [];
  }

  /** The token's claims and scopes, or an `OpenIDError` (`invalid_token`, `insufficient_scope`, ...). */
  async verify(token: string, ctx: Context, key = TokenCache.key(token)): Promise<OpenIDState> {
    const state = this.#cache.get(key) ?? (await this.#verifyShared(key, token));
    this.#checkScopes(state);
    if (this.#o.check && (await this.#o.check(state.claims, ctx)) === false) {
      throw new OpenIDError('invalid_token', 'the token was refused by a check of this route');
    }
    return state;
  }

  /**
   * The cached answer for the token with this hash (`TokenCache.key`), synchronously, when there is one and no `check` must run: the
   * hot path of a client repeating its token. Throws `insufficient_scope` like `verify`.
   */
  cached(key: string): OpenIDState | undefined {
    if (this.#o.check) return undefined;
    const state = this.#cache.get(key);
    if (state) this.#checkScopes(state);
    return state;
  }

  #checkScopes(state: OpenIDState): void {
    const required = this.#o.scopes;
    if (required?.length && missingScopes(required, state.scopes).length) {
      throw new OpenIDError('insufficient_scope', 'the token lacks a required scope');
    }
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
      (verified) => {
        const state: OpenIDState = {
          provider: this.#host.name,
          claims: verified.claims,
          scopes: verified.scopes,
          ...(typeof verified.claims.exp === 'number' ? { expiresAt: verified.claims.exp } : {}),
          token: 'bearer',
        };
        // Shared by other requests (cached, or joined while in flight): nobody may change it.
        if (verified.cache || entry.shared) deepFreeze(state);
        if (verified.cache) {
          const exp = typeof verified.claims.exp === 'number' ? verified.claims.exp * 1000 : Infinity;
          this.#cache.set(key, state, Math.min(exp, Date.now() + this.#o.cacheMaxAge * 1000));
        }
        return state;
      },
      (err: unknown) => {
        // A token the provider called inactive is remembered briefly; outages are not.
        if (err instanceof OpenIDError && err.code === 'invalid_token') this.#refused.set(key, err, Date.now() + REFUSAL_MEMORY_MS);
        throw err;
      },
    ).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, entry);
    return entry.promise;
  }

  async #verifyUncached(key: string, token: string): Promise<Verified> {
    const provider = await this.#host.provider();
    const o = this.#o;
    const isJwt = JWT_SHAPE.test(token);
    let claims: JWTPayload;
    if (o.introspection === true || (!isJwt && o.introspection === 'auto')) {
      claims = await introspect(provider, token, {
        audience: o.audience ?? this.#host.options.clientId,
        clockTolerance: o.clockTolerance ?? this.#host.options.clockTolerance,
      });
      return { claims, scopes: tokenScopes(claims), cache: true };
    }
    if (!isJwt) throw new OpenIDError('invalid_token', 'the token is not a JWT');
    this.#jwtCheck ??= accessTokenCheck(provider, this.#host.options, o);
    claims = await verifyJwt(token, provider.keys, this.#jwtCheck);
    if (isIdToken(claims)) throw new OpenIDError('invalid_token', 'an ID token is not an access token');
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
    exposeBearer(ctx, await verifier.verify(token, ctx));
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
    let token: string | undefined;
    let key = '';
    let hit: OpenIDState | undefined;
    try {
      token = readBearer(ctx);
      // A cached token is answered without any await: the hot path of a client repeating its token.
      if (token !== undefined) hit = verifier.cached((key = TokenCache.key(token)));
    } catch (err) {
      return refuse(ctx, err);
    }
    if (token === undefined) return rejectBearer(ctx, host.name, undefined);
    if (hit) {
      exposeBearer(ctx, hit);
      return next();
    }
    return verifier.verify(token, ctx, key).then(
      (state) => {
        exposeBearer(ctx, state);
        return next();
      },
      (err: unknown) => refuse(ctx, err),
    );
  };
}
