import type { Context, Middleware, Next } from 'koa';
import type { JWTPayload } from 'jose';
import { z } from 'zod';
import { BearerOptionsSchema, BearerVerifier, authenticateBearer, type BearerHost, type BearerOptions } from '../api/bearer.js';
import { bearerChallenge } from '../api/bearer-header.js';
import { OpenIDError, isOpenIDError } from '../errors.js';
import { missingScopes } from '../jwt/scopes.js';
import { SCOPE_TOKEN } from '../options.js';
import { parseOptions } from '../parse-options.js';
import type { LoginOptions } from '../login/authorize.js';
import { maybeLoginsOf } from '../session/logins.js';
import { wantsHtml } from '../respond.js';
import type { OpenIDState, UserLogin } from '../state.js';

/** A rule over a verified login's claims: return `false` (or throw an `OpenIDError`) to refuse it. */
export type ClaimsCheck = (claims: JWTPayload, ctx: Context) => boolean | void | Promise<boolean | void>;

const bool = z.boolean({ error: 'must be true or false' });
const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

/** Options of `provider.required(options)`: one schema, checked at setup. */
export const RequiredOptionsSchema = z.strictObject({
  /**
   * Also accept an `Authorization: Bearer` token of this provider (`true`, or the bearer options):
   * one route then serves the browser app (session) and API clients (token). A request that sends
   * a token is judged by the token alone. The `scopes` and `check` given here apply to session
   * logins too: a route is never guarded on one path only. Default `false`.
   */
  bearer: z.union([z.boolean(), BearerOptionsSchema]).optional(),
  /**
   * Send browsers (a GET or HEAD whose `Accept` includes `text/html`) to the login route with
   * `returnTo` set to this URL. When `false`, every caller gets `401 {"error":"login_required"}`.
   * Default `true`.
   */
  redirect: z.boolean().default(true),
  /**
   * Scopes every login must hold: a session login's recorded scopes, a bearer token's `scope`/`scp`.
   * Missing one: `403 insufficient_scope`. Default: none.
   */
  scopes: z.array(z.string().regex(SCOPE_TOKEN, { message: 'scope tokens must be printable, without spaces' })).optional(),
  /**
   * A rule over the login's claims (ID-token claims of a session login, access-token claims of a
   * bearer token): return `false` to refuse. A session login refused this way: `403 forbidden`.
   */
  check: fn<ClaimsCheck>('check').optional(),
  /** The same as `check` (both given: both must pass), by the name the claims guards use. */
  claims: fn<ClaimsCheck>('claims').optional(),
  /**
   * A browser without a login is first sent to a silent login (`prompt=none`), once per session:
   * a user still logged in at the provider comes back logged in without seeing a page; otherwise
   * the provider's refusal brings the browser back, and the normal login follows. Default `false`.
   */
  silent: bool.default(false),
});

export type RequiredOptions = z.input<typeof RequiredOptionsSchema>;

export interface GuardHost extends BearerHost {
  readonly name: string;
  /** The session's login, its access token refreshed first when due; `undefined` without one. */
  currentLogin(ctx: Context): Promise<UserLogin | undefined>;
  loginUrl(returnTo?: string): string;
  login(ctx: Context, options: LoginOptions): Promise<void>;
  renderError(ctx: Context, err: OpenIDError): Promise<void>;
}

/**
 * Puts the session's login into `ctx.state` and returns it (refreshed first when due), or returns
 * undefined: also when a refresh found the login ended (`login_required`). Any other failure of a
 * refresh (the provider down: 502/504) is thrown.
 */
export async function exposeLogin(ctx: Context, host: GuardHost): Promise<UserLogin | undefined> {
  let login: UserLogin | undefined;
  try {
    login = await host.currentLogin(ctx);
  } catch (err) {
    if (!isOpenIDError(err) || err.code !== 'login_required') throw err;
  }
  if (login) {
    const state: OpenIDState = { provider: host.name, claims: login.claims, scopes: login.scopes, expiresAt: login.expiresAt, token: 'session' };
    ctx.state.user = login.claims;
    ctx.state.openid = state;
  }
  return login;
}

/** A failure at the provider (a refresh or a silent login: 502/504): this provider's answer. A store failure (503) is the session middleware's. */
const providerFailure = (err: unknown): err is OpenIDError => isOpenIDError(err) && err.code !== 'session_unavailable';

/** Both rules in one: `undefined` when neither is given. */
function bothChecks(a: ClaimsCheck | undefined, b: ClaimsCheck | undefined): ClaimsCheck | undefined {
  if (!a || !b) return a ?? b;
  return async (claims, ctx) => (await a(claims, ctx)) !== false && (await b(claims, ctx)) !== false;
}

/**
 * A login of this provider is required. A login counts while the session holds it: the session's
 * own lifetime bounds it, not the access token's (`ctx.state.openid.expiresAt` tells the latter).
 * `scopes` and `check` (given at the top or inside `bearer`) guard session logins and bearer tokens
 * alike.
 */
export function required(host: GuardHost, options: RequiredOptions = {}): Middleware {
  const opts = parseOptions(RequiredOptionsSchema, options, 'required()');
  const bearer: BearerOptions | undefined = opts.bearer === true ? {} : opts.bearer || undefined;
  const scopes = [...new Set([...(opts.scopes ?? []), ...(bearer?.scopes ?? [])])];
  const check = bothChecks(bothChecks(opts.check, opts.claims), bearer?.check);
  const verifier = bearer && new BearerVerifier(host, { ...bearer, scopes, check });

  /** Why this route refuses a session login (its scopes, then `check`), or `undefined`. */
  async function sessionRefusal(login: UserLogin, ctx: Context): Promise<OpenIDError | undefined> {
    if (scopes.length && missingScopes(scopes, login.scopes).length) {
      return new OpenIDError('insufficient_scope', 'the login lacks a scope this page needs');
    }
    try {
      if (check && (await check(login.claims, ctx)) === false) return new OpenIDError('forbidden', 'this login may not use this page');
    } catch (err) {
      // An OpenIDError thrown by the check is its answer, as on the bearer path.
      if (!isOpenIDError(err)) throw err;
      return err;
    }
    return undefined;
  }

  return async function openidRequired(ctx: Context, next: Next) {
    if (verifier) {
      const outcome = await authenticateBearer(ctx, verifier, host.name);
      if (outcome === 'ok') return next();
      if (outcome === 'rejected') return;
    }
    let login: UserLogin | undefined;
    try {
      login = await exposeLogin(ctx, host);
    } catch (err) {
      if (!providerFailure(err)) throw err;
      return host.renderError(ctx, err);
    }
    if (login) {
      const refusal = scopes.length || check ? await sessionRefusal(login, ctx) : undefined;
      return refusal ? host.renderError(ctx, refusal) : next();
    }
    if (opts.redirect && (ctx.method === 'GET' || ctx.method === 'HEAD') && wantsHtml(ctx)) {
      const logins = opts.silent ? maybeLoginsOf(ctx) : undefined;
      if (logins && !(await logins.silentTried(host.name))) {
        try {
          return await host.login(ctx, { returnTo: ctx.originalUrl, prompt: 'none' });
        } catch (err) {
          if (!providerFailure(err)) throw err;
          return host.renderError(ctx, err);
        }
      }
      ctx.set('Cache-Control', 'no-store');
      ctx.redirect(host.loginUrl(ctx.originalUrl));
      return;
    }
    await host.renderError(ctx, new OpenIDError('login_required', 'log in first'));
    // RFC 7235 §3.1: a 401 names a scheme the client can use; with bearer: true that is Bearer.
    if (verifier && ctx.status === 401) ctx.set('WWW-Authenticate', bearerChallenge(host.name));
  };
}

/** Exposes a login of this provider when there is one, and always continues. */
export function optional(host: GuardHost): Middleware {
  return async function openidOptional(ctx: Context, next: Next) {
    try {
      await exposeLogin(ctx, host);
    } catch (err) {
      if (!providerFailure(err)) throw err;
      return host.renderError(ctx, err);
    }
    return next();
  };
}
