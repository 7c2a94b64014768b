import type { Context, Middleware, Next } from 'koa';
import { BearerVerifier, authenticateBearer, type BearerHost, type BearerOptions } from '../api/bearer.js';
import { bearerChallenge } from '../api/bearer-header.js';
import { OpenIDError } from '../errors.js';
import { readLogin } from '../session/login-record.js';
import { maybeSession } from '../session/session-access.js';
import type { OpenIDState, UserLogin } from '../state.js';
import { wantsHtml } from '../respond.js';

export interface RequiredOptions {
  /**
   * Also accept an `Authorization: Bearer` token of this provider (`true`, or the bearer options):
   * one route then serves the browser app (session) and API clients (token). A request that sends
   * a token is judged by the token alone. Default `false`.
   */
  bearer?: boolean | BearerOptions;
  /**
   * Send browsers (a GET or HEAD whose `Accept` includes `text/html`) to the login route with
   * `returnTo` set to this URL. When `false`, every caller gets `401 {"error":"login_required"}`.
   * Default `true`.
   */
  redirect?: boolean;
}

export interface GuardHost extends BearerHost {
  readonly name: string;
  loginUrl(returnTo?: string): string;
  renderError(ctx: Context, err: OpenIDError): Promise<void>;
}

/** Puts a stored login into `ctx.state` and returns it, or returns undefined. */
export function exposeLogin(ctx: Context, name: string): UserLogin | undefined {
  const login = readLogin(maybeSession(ctx), name);
  if (login) {
    const state: OpenIDState = { provider: name, claims: login.claims, scopes: login.scopes, expiresAt: login.expiresAt, token: 'session' };
    ctx.state.user = login.claims;
    ctx.state.openid = state;
  }
  return login;
}

/**
 * A login of this provider is required. A login counts while the session holds it: the session's
 * own lifetime bounds it, not the access token's (`ctx.state.openid.expiresAt` tells the latter).
 */
export function required(host: GuardHost, opts: RequiredOptions = {}): Middleware {
  const redirect = opts.redirect ?? true;
  const bearerOptions = opts.bearer === true ? {} : opts.bearer || undefined;
  const verifier = bearerOptions && new BearerVerifier(host, bearerOptions);
  return async function openidRequired(ctx: Context, next: Next) {
    if (verifier) {
      const outcome = await authenticateBearer(ctx, verifier, host.name);
      if (outcome === 'ok') return next();
      if (outcome === 'rejected') return;
    }
    if (exposeLogin(ctx, host.name)) return next();
    if (redirect && (ctx.method === 'GET' || ctx.method === 'HEAD') && wantsHtml(ctx)) {
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
    exposeLogin(ctx, host.name);
    return next();
  };
}
