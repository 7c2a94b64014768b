import { inspect } from 'node:util';
import type Koa from 'koa';
import type { Context, Middleware } from 'koa';
import type Router from '@koa/router';
import type { JWTPayload } from 'jose';
import type { UserInfoResponse } from 'openid-client';
import { startLogin, type LoginOptions } from '../login/authorize.js';
import { bearer, VerifyTokenOptionsSchema, type BearerOptions, type VerifyTokenOptions } from '../api/bearer.js';
import { completeLogin } from '../login/callback.js';
import { backchannelLogout } from '../login/backchannel-logout.js';
import { endSession, loggedOut, logoutRoute } from '../login/rp-logout.js';
import { frontchannelLogout } from '../login/frontchannel-logout.js';
import { ProviderConnection, type Provider } from '../provider/discovery.js';
import { OpenIDError, isOpenIDError } from '../errors.js';
import { required, optional, type ClaimsCheck, type RequiredOptions } from './guards.js';
import { loginsOf, maybeLoginsOf } from '../session/logins.js';
import { announceProvider, sessionStoreOf } from '../session/redis-session.js';
import { endLogins, listLogins, type LoginKey, type UserSession } from '../session/login-index.js';
import type { SessionStore } from '../session/store.js';
import type { UserLogin } from '../state.js';
import { resolveOptions, type OpenIDOptions, type ResolvedOptions } from '../options.js';
import { accessToken, currentLogin, refreshLogin } from '../provider/refresh.js';
import { renderError } from './render-error.js';
import { addExactRoutes } from './routes.js';
import { safeReturnTo } from '../login/return-to.js';
import { fetchUserInfo, type UserInfoOptions } from '../provider/userinfo.js';
import { accessTokenCheck, verifyJwt } from '../jwt/verify-jwt.js';
import { parseOptions } from '../parse-options.js';
import { appRoles, keycloakRoles, type KeycloakRoles } from '../jwt/roles.js';
import { accessTokenClaims } from '../provider/access-token-claims.js';

export type { VerifyTokenOptions };

type Target = Koa | Router;

/** Names and routes taken on each app or router, to refuse collisions at setup. */
const taken = new WeakMap<object, { names: Set<string>; routes: Set<string> }>();

function isRouter(target: Target): target is Router {
  return typeof (target as Router).routes === 'function' && typeof (target as Router).register === 'function';
}

function claim(target: Target, opts: ResolvedOptions): void {
  let entry = taken.get(target);
  if (!entry) taken.set(target, (entry = { names: new Set(), routes: new Set() }));
  if (entry.names.has(opts.name)) throw new TypeError(`new OpenID(): a provider named "${opts.name}" is already registered`);
  const routes = [opts.routeLogin, opts.routeAuth, opts.routeBackchannelLogout, opts.routeLogout, opts.routeLoggedOut, opts.routeFrontchannelLogout];
  for (const route of opts.routes ? routes : []) {
    if (entry.routes.has(route)) throw new TypeError(`new OpenID(): the route "${route}" is already used by another provider`);
  }
  entry.names.add(opts.name);
  if (opts.routes) for (const route of routes) entry.routes.add(route);
}

let warnedProduction = false;

/**
 * One OpenID Connect provider (Keycloak, Azure AD, ...) for a Koa app: its login and callback
 * routes, guards, and token helpers. Create one per provider; several live side by side.
 */
export class OpenID {
  /** The provider's `name`. */
  readonly name: string;
  /** The validated options, defaults applied. */
  readonly options: ResolvedOptions;
  readonly #connection: ProviderConnection;
  /** The Router the routes were added to, when one was given: its prefix is part of every URL. */
  readonly #router: Router | undefined;
  /** The app whose sessions this provider's logins live in: known at once on an app, at the first request on a Router. */
  #app: object | undefined;

  constructor(app: Target, options: OpenIDOptions) {
    if (!app || (typeof (app as Koa).use !== 'function' && !isRouter(app))) {
      throw new TypeError('new OpenID(app, options): "app" must be a Koa app or a @koa/router Router');
    }
    this.options = resolveOptions(options);
    this.name = this.options.name;
    // The login routes keep their state in the session. On a Router the app is not known yet:
    // a missing session middleware is then reported at the first request.
    if (this.options.routes && !isRouter(app) && !Object.prototype.hasOwnProperty.call(app.context, 'session')) {
      throw new TypeError(
        'new OpenID(app): the app has no session middleware yet: app.use(redisSession(app, ...)) before creating the providers (or routes: false for an API)',
      );
    }
    claim(app, this.options);
    this.#router = isRouter(app) ? app : undefined;
    if (!isRouter(app)) this.#app = app;
    this.#connection = new ProviderConnection(this.options);
    if (this.options.routes && !isRouter(app)) announceProvider(app, this.name);
    if (process.env.NODE_ENV === 'production' && !warnedProduction && (!this.options.baseUrl || this.options.allowInsecureRequests)) {
      warnedProduction = true;
      process.emitWarning(
        `koa-session-openid: provider "${this.name}" runs in production with ${this.options.baseUrl ? '"allowInsecureRequests"' : 'no "baseUrl" (redirect_uri derived from the Host header)'}`,
      );
    }

    if (!this.options.routes) return;
    const login = this.#handle((ctx) => this.login(ctx, { returnTo: ctx.query.returnTo as string | undefined }));
    const callback = this.#handle((ctx) => completeLogin(ctx, this.options, () => this.#connection.get(), this.loginUrl()));
    const backchannel = this.#handle((ctx) => backchannelLogout(ctx, this.options, () => this.#connection.get()));
    const logout = this.#handle((ctx) => logoutRoute(ctx, this.options, () => this.logout(ctx, { endSession: true }).then(() => undefined), this.#path(this.options.routeLogout)));
    const done = this.#handle((ctx) => loggedOut(ctx, this.options, loginsOf(ctx)));
    const frontchannel = this.#handle((ctx) => frontchannelLogout(ctx, this.options, () => this.#connection.get()));
    if (isRouter(app)) {
      app.get(this.options.routeLogin, login);
      app.get(this.options.routeAuth, callback);
      app.post(this.options.routeAuth, callback);
      app.post(this.options.routeBackchannelLogout, backchannel);
      app.get(this.options.routeLogout, logout);
      app.post(this.options.routeLogout, logout);
      app.get(this.options.routeLoggedOut, done);
      app.get(this.options.routeFrontchannelLogout, frontchannel);
    } else {
      addExactRoutes(
        app,
        {
          login: this.options.routeLogin,
          auth: this.options.routeAuth,
          backchannelLogout: this.options.routeBackchannelLogout,
          logout: this.options.routeLogout,
          loggedOut: this.options.routeLoggedOut,
          frontchannelLogout: this.options.routeFrontchannelLogout,
        },
        { login, callback, backchannelLogout: backchannel, logout, loggedOut: done, frontchannelLogout: frontchannel },
      );
    }
  }

  /** `console.log(provider)` and `JSON.stringify(provider)` show no secret (the options redact it). */
  [inspect.custom](): object {
    return { name: this.name, options: this.options };
  }

  toJSON(): object {
    return this[inspect.custom]();
  }

  /** Wraps a route so that library errors become answers (4xx/5xx pages or JSON), never crashes. */
  #handle(fn: (ctx: Context) => Promise<void>): Middleware {
    return async (ctx) => {
      this.#app ??= ctx.app;
      try {
        await fn(ctx);
      } catch (err) {
        if (!isOpenIDError(err)) throw err;
        await this.renderError(ctx, err);
      }
    };
  }

  /** Answers `err` with the `handleError` hook or the default page/JSON. */
  renderError(ctx: Context, err: OpenIDError): Promise<void> {
    return renderError(ctx, err, this.options.handleError, { home: this.options.defaultReturnTo, login: this.loginUrl() });
  }

  /** The provider's discovered metadata and keys (fetched once). Rejects with `discovery_failed` while it is down. */
  provider(): Promise<Provider> {
    return this.#connection.get();
  }

  /** Resolves once discovery succeeded: call it at startup to fail fast, if you prefer that. */
  async ready(): Promise<void> {
    await this.#connection.get();
  }

  /**
   * Starts a login from any route (redirects the response to the provider). Extra `scopes` are
   * asked on top of the configured ones: progressive consent. The stored login is replaced only
   * once the new one has validated.
   */
  async login(ctx: Context, options: LoginOptions = {}): Promise<void> {
    // The session first: a missing session middleware is reported even while the provider is down.
    const logins = loginsOf(ctx);
    await startLogin(ctx, logins, this.options, await this.#connection.get(), options, this.#path(this.options.routeAuth));
  }

  /** A route's path as requests see it: under the Router's prefix (read now, as `router.prefix()` may change it). */
  #path(route: string): string {
    return `${this.#router?.opts.prefix ?? ''}${route}`;
  }

  /** The login route's URL with an optional `returnTo` (same-origin paths only), for templates. */
  loginUrl(returnTo?: string): string {
    const safe = returnTo === undefined ? undefined : safeReturnTo(returnTo, this.options.defaultReturnTo);
    const path = this.#path(this.options.routeLogin);
    return safe === undefined ? path : `${path}?returnTo=${encodeURIComponent(safe)}`;
  }

  /** This provider's stored login in the session, tokens included, or `undefined`. */
  async session(ctx: Context): Promise<UserLogin | undefined> {
    return maybeLoginsOf(ctx)?.login(this.name, true);
  }

  /**
   * Ends this provider's login in this session (other providers' logins stay) and resolves to
   * whether there was one. With `endSession: true`, also at the provider (RP-Initiated Logout 1.0):
   * the response becomes a redirect to its `end_session_endpoint` (or to `postLogoutReturnTo` when
   * it has none).
   */
  async logout(ctx: Context, options: { endSession?: boolean } = {}): Promise<boolean> {
    if (!options.endSession) return (await maybeLoginsOf(ctx)?.removeLogin(this.name)) ?? false;
    const logins = loginsOf(ctx);
    const had = (await logins.login(this.name)) !== undefined;
    await endSession(ctx, this.options, await this.#connection.get(), logins, this.#path(this.options.routeLoggedOut));
    return had;
  }

  /**
   * Uses the refresh token to renew the stored tokens now (once across concurrent requests and app
   * instances); `login_required` when that is refused (the login is then removed).
   */
  async refresh(ctx: Context): Promise<UserLogin> {
    return refreshLogin(ctx, this.options, await this.#connection.get());
  }

  /**
   * A valid access token of this session's login, for calling APIs: refreshed first when it expires
   * within `refreshSkew`. `login_required` without a login, or when it expired and cannot be refreshed.
   */
  async accessToken(ctx: Context): Promise<string> {
    return (await accessToken(ctx, this.options, () => this.#connection.get())).token;
  }

  /** The session's login for the guards: refreshed first when due (option `autoRefresh`). */
  currentLogin(ctx: Context): Promise<UserLogin | undefined> {
    this.#app ??= ctx.app;
    return currentLogin(ctx, this.options, () => this.#connection.get());
  }

  /** The session store this provider's logins live in: a setup `TypeError` without the built-in sessions. */
  #store(what: string): SessionStore {
    const store = this.#app && sessionStoreOf(this.#app);
    if (!store) {
      throw new TypeError(
        `${what} needs the built-in sessions: app.use(redisSession(app, ...)) (on a Router, the app is known once a request reached this provider's routes)`,
      );
    }
    return store;
  }

  /**
   * Ends this provider's logins of a user (`{ sub }`: "log out all devices", a suspended account) or
   * of a provider session (`{ sid }`) in every session, on every app instance sharing the store;
   * a session left with nothing else ends. Resolves to the number of logins ended.
   */
  endSessions(key: LoginKey): Promise<number> {
    const store = this.#store('endSessions()');
    const valid = key && typeof key === 'object' && ('sub' in key ? typeof key.sub === 'string' && key.sub : 'sid' in key && typeof key.sid === 'string' && key.sid);
    if (!valid) throw new TypeError('endSessions(): pass { sub } or { sid }, a non-empty string');
    return endLogins(store, this.name, key);
  }

  /**
   * The sessions holding a live login of this provider for `sub` (a "your devices" page): an opaque
   * id, when the login completed, when it was last used, its `sid`. Most recently used first.
   */
  sessionsOf(sub: string): Promise<UserSession[]> {
    const store = this.#store('sessionsOf()');
    if (typeof sub !== 'string' || !sub) throw new TypeError('sessionsOf(sub): "sub" must be a non-empty string');
    return listLogins(store, this.name, sub);
  }

  /** Calls the userinfo endpoint with the session's access token or a given one; the answer's `sub` must match. */
  async userInfo(ctxOrToken: Context | string, options: UserInfoOptions = {}): Promise<UserInfoResponse> {
    return fetchUserInfo(ctxOrToken, this.options, await this.#connection.get(), options);
  }

  /**
   * Verifies an access token (a JWT) signed by this provider: signature (JWKS, with the key rotation
   * rule of {@link RemoteKeySet}), `alg`, `iss`, `aud` (default the `clientId`), `exp` (required),
   * `nbf`, `sub` (required, RFC 9068 §2.2), and that it is no ID token (see jwt/token-kind.ts).
   * Returns the claims or throws an {@link OpenIDError} with code `invalid_token`; bad `options`
   * are a `TypeError`.
   */
  async verifyToken(token: string, options: VerifyTokenOptions = {}): Promise<JWTPayload> {
    const o = parseOptions(VerifyTokenOptionsSchema, options, 'verifyToken()');
    const provider = await this.#connection.get();
    return verifyJwt(token, provider.keys, accessTokenCheck(provider, this.options, o));
  }

  /**
   * Keycloak (`keycloak()` preset): the realm roles and each client's roles of this request's login,
   * read from its **access token**, verified (a bearer request's token, or the session login's,
   * refreshed first when due): Keycloak puts roles there, not in the ID token.
   */
  async roles(ctx: Context): Promise<KeycloakRoles> {
    this.#only('keycloak', 'roles()');
    return keycloakRoles(await accessTokenClaims(ctx, this.options, () => this.#connection.get()));
  }

  /** Keycloak: whether the login has `role`: a realm role, or with `client` a role of that client (`true`: this app's `clientId`). */
  async hasRole(ctx: Context, role: string, options: { client?: string | true } = {}): Promise<boolean> {
    return this.#hasRole(await this.roles(ctx), role, options.client);
  }

  #hasRole(roles: KeycloakRoles, role: string, client: string | true | undefined): boolean {
    if (client === undefined) return roles.realm.includes(role);
    return (roles.clients[client === true ? this.options.clientId : client] ?? []).includes(role);
  }

  /**
   * Keycloak: `required()` plus a role (realm, or `client`'s): `403 role_required` without it. Works
   * for session logins and, with `bearer`, for bearer tokens.
   */
  requireRole(role: string, options: RequiredOptions & { client?: string | true } = {}): Middleware {
    this.#only('keycloak', 'requireRole()');
    if (typeof role !== 'string' || !role) throw new TypeError('requireRole(role): "role" must be a non-empty string');
    const { client, claims: ownCheck, ...rest } = options;
    const hasIt: ClaimsCheck = async (claims, ctx) => {
      // A session login's claims are its ID token's: its roles are in the access token. A bearer
      // token's claims (this route's guard verified them just now) are the access token's. Which
      // one is decided by the claims given, never by a ctx.state an earlier guard may have set.
      const openid = ctx.state.openid;
      const session = openid?.token === 'session' && openid.provider === this.name && openid.claims === claims;
      const tokenClaims = session ? await accessTokenClaims(ctx, this.options, () => this.#connection.get()) : claims;
      if (!this.#hasRole(keycloakRoles(tokenClaims), role, client)) throw new OpenIDError('role_required', 'this page needs a role the login does not have');
      return true;
    };
    return this.required({ ...rest, claims: ownCheck ? async (c, ctx) => (await ownCheck(c, ctx)) !== false && hasIt(c, ctx) : hasIt });
  }

  /**
   * Microsoft Entra ID (`azureAD()` preset): `required()` plus an app role (the `roles` claim of the
   * ID token, or of the bearer token): `403 role_required` without it.
   */
  requireAppRole(role: string, options: RequiredOptions = {}): Middleware {
    this.#only('azure-ad', 'requireAppRole()');
    if (typeof role !== 'string' || !role) throw new TypeError('requireAppRole(role): "role" must be a non-empty string');
    const { claims: ownCheck, ...rest } = options;
    const hasIt: ClaimsCheck = (claims) => {
      if (!appRoles(claims).includes(role)) throw new OpenIDError('role_required', 'this page needs an app role the login does not have');
      return true;
    };
    return this.required({ ...rest, claims: ownCheck ? async (c, ctx) => (await ownCheck(c, ctx)) !== false && hasIt(c, ctx) : hasIt });
  }

  #only(kind: ResolvedOptions['kind'], what: string): void {
    if (this.options.kind !== kind) throw new TypeError(`${what} is for a ${kind === 'keycloak' ? 'keycloak()' : 'azureAD()'} provider; "${this.name}" is ${this.options.kind}`);
  }

  /** Middleware: a login of this provider is required (redirect for browsers, else 401 JSON). */
  required(options: RequiredOptions = {}): Middleware {
    return required(this, options);
  }

  /**
   * Middleware for APIs: a valid `Authorization: Bearer` token of this provider is required
   * (RFC 6750). Sets `ctx.state.user` and `ctx.state.openid` (`token: 'bearer'`).
   */
  bearer(options: BearerOptions = {}): Middleware {
    return bearer(this, options);
  }

  /** Middleware: exposes a login of this provider in `ctx.state` when there is one. */
  optional(): Middleware {
    return optional(this);
  }
}
