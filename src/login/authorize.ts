import type { Context } from 'koa';
import * as client from 'openid-client';
import { debug } from '../debug.js';
import { OpenIDError } from '../errors.js';
import type { Provider } from '../provider/discovery.js';
import { RESERVED_PARAMS, SCOPE_TOKEN, type ResolvedOptions } from '../options.js';
import { safeReturnTo } from './return-to.js';
import type { SessionLogins } from '../session/logins.js';

/** Options of `provider.login(ctx, options)`. */
export interface LoginOptions {
  /** Scopes asked for on top of the configured ones (progressive consent). */
  scopes?: string[];
  /** Same-origin path to land on afterwards. Anything else falls back to `defaultReturnTo`. */
  returnTo?: string;
  /**
   * OpenID Connect `prompt`: `none`, `login`, `consent`, `select_account` (space separated). With
   * `none` (a silent login) the provider's `login_required`, `interaction_required`,
   * `consent_required` and `account_selection_required` answers return the browser to `returnTo`,
   * not logged in, without an error page.
   */
  prompt?: string;
  /** `max_age` in seconds; the ID token's `auth_time` is then checked. Overrides the configured one. */
  maxAge?: number;
  /** `acr_values`. */
  acrValues?: string | string[];
  /** `login_hint`. */
  loginHint?: string;
  /** Any other authorization request parameters (`ui_locales`, `audience`, ...). */
  params?: Record<string, string>;
}

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);
/** Provider + redirect_uri pairs already named in the debug log. */
const announced = new Set<string>();

function checkLoginOptions(o: LoginOptions): void {
  if (o.scopes !== undefined && (!Array.isArray(o.scopes) || !o.scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s)))) {
    throw new TypeError('login(): "scopes" must be an array of scope tokens');
  }
  if (o.prompt !== undefined && (typeof o.prompt !== 'string' || !o.prompt.split(' ').every((p) => PROMPTS.has(p)))) {
    throw new TypeError('login(): "prompt" must be none, login, consent or select_account');
  }
  if (o.maxAge !== undefined && !(Number.isInteger(o.maxAge) && o.maxAge >= 0)) {
    throw new TypeError('login(): "maxAge" must be a whole number of seconds');
  }
  for (const key of Object.keys(o.params ?? {})) {
    if (RESERVED_PARAMS.has(key)) throw new TypeError(`login(): "params.${key}" is set by the library`);
  }
}

/**
 * The `redirect_uri`: the configured public origin, else this request's own origin, plus the
 * callback route's path (`routeAuth`, under the Router's prefix when there is one).
 */
export function redirectUri(ctx: Context, opts: ResolvedOptions, callbackPath: string): string {
  if (opts.baseUrl) return new URL(callbackPath, opts.baseUrl).href;
  if (!ctx.host) throw new OpenIDError('invalid_request', 'the request has no Host header');
  try {
    return new URL(callbackPath, `${ctx.protocol}://${ctx.host}`).href;
  } catch {
    throw new OpenIDError('invalid_request', 'the request\'s Host header is malformed');
  }
}

/**
 * Starts an authorization code login: a fresh `state`, `nonce` and PKCE S256 verifier, kept in the
 * server-side session as a single-use transaction, and a redirect to the provider.
 */
export async function startLogin(
  ctx: Context,
  logins: SessionLogins,
  opts: ResolvedOptions,
  provider: Provider,
  login: LoginOptions,
  callbackPath: string,
): Promise<void> {
  checkLoginOptions(login);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const verifier = client.randomPKCECodeVerifier();
  // Progressive consent: the scopes the current login holds are asked again, so a new grant (whose
  // scopes replace the recorded ones) does not drop them.
  const current = (await logins.login(opts.name))?.scopes ?? [];
  const scope = [...new Set([...opts.scopes, ...current, ...(login.scopes ?? [])])].join(' ');
  const maxAge = login.maxAge ?? opts.maxAge;
  const redirect_uri = redirectUri(ctx, opts, callbackPath);
  // (Bounded: without baseUrl the URI follows the Host header.)
  if (announced.size < 100 && !announced.has(`${opts.name} ${redirect_uri}`)) {
    // A wrong redirect_uri is otherwise only visible at the provider (which refuses the login).
    announced.add(`${opts.name} ${redirect_uri}`);
    debug('provider "%s" sends redirect_uri %s (register it at the provider)', opts.name, redirect_uri);
  }
  const acr = Array.isArray(login.acrValues) ? login.acrValues.join(' ') : login.acrValues;

  const withCode = opts.responseType.startsWith('code');
  const url = client.buildAuthorizationUrl(provider.config, {
    ...opts.authorizationParams,
    ...login.params,
    redirect_uri,
    scope,
    state,
    nonce,
    response_type: opts.responseType,
    ...(opts.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}),
    ...(withCode ? { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } : {}),
    ...(login.prompt ? { prompt: login.prompt } : {}),
    ...(maxAge !== undefined ? { max_age: String(maxAge) } : {}),
    ...(acr ? { acr_values: acr } : {}),
    ...(login.loginHint ? { login_hint: login.loginHint } : {}),
  });

  await logins.startLogin(
    state,
    {
      provider: opts.name,
      verifier,
      nonce,
      redirectUri: redirect_uri,
      returnTo: safeReturnTo(login.returnTo, opts.defaultReturnTo),
      scope,
      ...(maxAge !== undefined ? { maxAge } : {}),
      ...(login.prompt?.split(' ').includes('none') ? { silent: true as const } : {}),
      createdAt: Date.now(),
    },
    opts.loginTimeout * 1000,
    opts.maxPendingLogins,
  );
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(url.href);
}
