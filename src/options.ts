import { inspect } from 'node:util';
import { z } from 'zod';
import { isAsymmetricAlgorithm } from './jws-algorithms.js';
import { parseOptions } from './parse-options.js';
import type { Context } from 'koa';
import type { OpenIDError } from './errors.js';
import type { UserLogin } from './state.js';

/** What `handleUserLogin` receives once a login has been fully validated and stored. */
export interface LoginResult extends UserLogin {
  /** The provider's `name`. */
  provider: string;
  /** The same-origin path the login was started for (default `/`). */
  returnTo: string;
}

export type HandleUserLogin = (ctx: Context, login: LoginResult) => unknown | Promise<unknown>;
export type HandleError = (ctx: Context, err: OpenIDError) => unknown | Promise<unknown>;

/** Authorization request parameters the library owns: neither options nor `login()` may set them. */
export const RESERVED_PARAMS: ReadonlySet<string> = new Set([
  'client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge',
  'code_challenge_method', 'response_mode', 'request', 'request_uri',
  // max_age only through the maxAge option, which also checks auth_time (Core §3.1.2.1).
  'max_age',
]);

/** A Microsoft Entra ID tenant id. */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An OAuth scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;

const fn = <T>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `must be a function (${what})` });

const routePath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, { message: 'must start with "/" and be a plain path' });

const seconds = z.number().finite().positive();

/**
 * The options of `new OpenID(app, options)`: one schema is the source of the type, the defaults and
 * the setup-time validation (a bad option is a `TypeError` naming it).
 */
export const OpenIDOptionsSchema = z.strictObject({
  /** Unique per app; names the routes and namespaces everything this provider stores in the session. Letters, digits, `_`, `-`. Required. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must be 1-64 letters, digits, "_" or "-"' }),
  /**
   * What kind of provider this is: `'keycloak'` and `'azure-ad'` (set by the `keycloak()` and
   * `azureAD()` presets) add their role helpers. Default `'generic'`.
   */
  kind: z.enum(['generic', 'keycloak', 'azure-ad']).default('generic'),
  /** The OAuth client id registered at the provider. Required. */
  clientId: z.string().min(1),
  /** The client secret. Omitted: a public client that authenticates with PKCE alone. */
  clientSecret: z.string().min(1).optional(),
  /**
   * The provider's discovery document URL (`.../.well-known/openid-configuration`) or its issuer
   * URL. Fetched once on first use and cached. Required.
   */
  configuration: z.string().url(),
  /**
   * The issuer the discovery document must name. Default: `configuration` without its
   * `/.well-known/openid-configuration` suffix (OpenID Connect Discovery 1.0 §4.3).
   */
  issuer: z.string().url().optional(),
  /**
   * A multi-tenant issuer (Microsoft Entra ID `common`/`organizations`: `issuer` with `{tenantid}`):
   * the tenant ids (GUIDs) whose users may log in, or `'any'` to accept every tenant knowingly. Each
   * token's `iss` must then be the template with its own `tid`, an allowed one (else
   * `tenant_not_allowed`, 403). Required with such an issuer, refused without one.
   */
  allowedTenants: z.union([z.array(z.string().regex(TENANT_ID, { message: 'tenant ids are GUIDs (lower case)' })).nonempty(), z.literal('any')]).optional(),
  /**
   * Microsoft Entra ID: `verifyToken` and `bearer()` also accept v1 access tokens (issuer
   * `https://sts.windows.net/<tenant id>/`), which an API receives when its app registration says
   * `accessTokenAcceptedVersion: 1` (or null). Default `false`.
   */
  acceptV1Tokens: z.boolean().default(false),
  /**
   * The app's public origin (`https://app.example.com`), used to build the `redirect_uri`.
   * Default: derived from each request (`ctx.protocol` + `ctx.host`, which honour `app.proxy`).
   * Set it in production: a derived origin trusts the `Host` header.
   */
  baseUrl: z.string().url().optional(),
  /** Scopes requested at every login. `openid` is always added. Default `['openid', 'profile', 'email']`. */
  scopes: z.array(z.string().regex(SCOPE_TOKEN, { message: 'scope tokens must be printable, without spaces' })).default(['openid', 'profile', 'email']),
  /** The login route. Default `/openid/${name}/login`. */
  routeLogin: routePath.optional(),
  /** The callback ("auth") route registered as `redirect_uri`. Default `/openid/${name}/auth`. */
  routeAuth: routePath.optional(),
  /**
   * The back-channel logout route (OpenID Connect Back-Channel Logout 1.0): register
   * `<baseUrl><routeBackchannelLogout>` at the provider as the client's backchannel_logout_uri.
   * Default `/openid/${name}/backchannel-logout`.
   */
  routeBackchannelLogout: routePath.optional(),
  /**
   * The logout route (RP-Initiated Logout 1.0): ends this provider's login here, then at the
   * provider when it has an `end_session_endpoint`. Default `/openid/${name}/logout`.
   */
  routeLogout: routePath.optional(),
  /** Where the provider sends the browser back after its logout. Default `/openid/${name}/logged-out`. */
  routeLoggedOut: routePath.optional(),
  /**
   * The front-channel logout route (Front-Channel Logout 1.0): register `<baseUrl><route>` as the
   * client's frontchannel_logout_uri. Default `/openid/${name}/frontchannel-logout`.
   */
  routeFrontchannelLogout: routePath.optional(),
  /** A front-channel logout must name the issuer (`iss`); `false` for Azure AD, which sends `sid` alone. Default `true`. */
  frontchannelLogoutRequiresIss: z.boolean().default(true),
  /**
   * The `post_logout_redirect_uri` sent to the provider (register it there). Default
   * `<baseUrl><routeLoggedOut>`; never taken from the request.
   */
  postLogoutRedirectUri: z.string().url().optional(),
  /** Where the browser lands after a logout. Default `/`. */
  postLogoutReturnTo: routePath.default('/'),
  /**
   * Register the login and callback routes. `false` for an API that only checks bearer tokens
   * (`bearer()`, `verifyToken`): it then needs no session either. Default `true`.
   */
  routes: z.boolean().default(true),
  /** Where to go after a login without `returnTo`. Default `/`. */
  defaultReturnTo: routePath.default('/'),
  /**
   * Called after a login has been validated and stored in the session (the session id has already
   * been renewed). It owns the response: when it sets none, the user is redirected to `returnTo`.
   * If it throws, the login is removed from the session again.
   */
  handleUserLogin: fn<HandleUserLogin>('handleUserLogin').optional(),
  /** Renders errors of this provider's routes and guards. Default: a small HTML page or JSON, by `Accept`. */
  handleError: fn<HandleError>('handleError').optional(),
  /**
   * Fetch userinfo at login, and again after each refresh (OpenID Connect Core §5.3), and merge its
   * claims into the stored login: providers that issue an access token often put profile and email
   * claims only there (Core §5.4), so the ID token holds little more than `sub`. The answer's `sub`
   * must be the ID token's; on a conflict the ID token's claim wins. A failure fails the login
   * (`userinfo_failed` or `provider_unavailable`); after a refresh the claims stay as they were.
   * Needs an access token (not with `responseType: 'id_token'`) and a userinfo endpoint (else
   * discovery fails). Default `false`.
   */
  userInfo: z.boolean().default(false),
  /**
   * Guards (`required()`, `optional()`) and `accessToken(ctx)` refresh a login's access token that
   * expires within `refreshSkew` when the login holds a refresh token, before the handler runs. One
   * refresh per login at a time across every app process (a lock in the session store); the other
   * requests wait for it and use its tokens. Default `true`.
   */
  autoRefresh: z.boolean().default(true),
  /** How long before its expiry an access token is refreshed. Default `60` (seconds). */
  refreshSkew: z.number().finite().min(0).max(3600).default(60),
  /**
   * A login ends after this long without a request that uses it (a guard, `session()`,
   * `accessToken()`): enforced by the server on every read, whatever the cookie. Use is recorded at
   * most once a minute, and each record also extends the session's lifetime in the store and the
   * cookie. Default `86400` (1 day, seconds).
   */
  idleTimeout: seconds.default(86_400),
  /** A login ends this long after it completed, however much it is used (a refresh does not extend it). Default `604800` (7 days, seconds). */
  absoluteLifetime: seconds.default(604_800),
  /** Allow `http://` provider URLs. Only for development and tests. Default `false`. */
  allowInsecureRequests: z.boolean().default(false),
  /**
   * How the client authenticates at the token endpoint. Default: `none` without a secret, else
   * `client_secret_basic` when the provider lists it (or lists nothing), else `client_secret_post`.
   */
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  /**
   * JWS algorithms accepted for ID tokens. Default: the provider's
   * `id_token_signing_alg_values_supported` without `none` and HMAC algorithms, else `['RS256']`.
   */
  idTokenAlgorithms: z.array(z.string().refine(isAsymmetricAlgorithm, { message: 'only asymmetric JWS algorithms are allowed' })).nonempty().optional(),
  /**
   * `response_type`: `'code'` (the authorization code flow), `'code id_token'` (hybrid: the ID token
   * also comes with the redirect, bound to the code by `c_hash`), `'id_token'` or `'id_token token'`
   * (implicit, for providers that offer nothing else: the access token is bound by `at_hash`).
   * Default `'code'`.
   */
  responseType: z.enum(['code', 'code id_token', 'id_token', 'id_token token']).default('code'),
  /**
   * `response_mode`: `'query'` or `'form_post'`. Default `'query'` for `code`; the other response
   * types carry tokens, which never go into a URL, so `'form_post'` is their default and only mode.
   */
  responseMode: z.enum(['query', 'form_post']).optional(),
  /** HTTP timeout for every request to the provider. Default `5` (seconds). */
  timeout: seconds.default(5),
  /** Clock skew tolerated when checking `exp`, `iat`, `nbf`, `auth_time`. Default `30` (seconds). */
  clockTolerance: z.number().finite().min(0).max(600).default(30),
  /** How long a started login may take before its `state` expires. Default `600` (seconds). */
  loginTimeout: seconds.default(600),
  /** How many logins of this provider may be pending in one session; the oldest is dropped past it. Default `5`. */
  maxPendingLogins: z.number().int().min(1).max(50).default(5),
  /** `max_age` sent with every login; `auth_time` is then checked (OpenID Connect Core §3.1.2.1). Default: not sent (seconds). */
  maxAge: z.number().int().min(0).optional(),
  /** Extra authorization request parameters sent with every login (e.g. `{ audience: 'api' }`). Default `{}`. */
  authorizationParams: z.record(z.string(), z.string()).default({}),
  /**
   * Minimum time between two JWKS fetches caused by a token whose `kid` is not in the cached key
   * set. A token with an unknown `kid` waits for that fetch (at most this long), so a provider's
   * key rotation is accepted within seconds while bogus `kid`s cause at most one fetch per
   * interval. Also how long a failed discovery is remembered before the next attempt.
   * Default `5` (seconds).
   */
  jwksCooldown: z.number().finite().min(0).max(300).default(5),
  /** The cached JWKS is refreshed in the background once older than this. Default `600` (seconds). */
  jwksMaxAge: seconds.default(600),
});

/** What `new OpenID(app, options)` accepts. */
export type OpenIDOptions = z.input<typeof OpenIDOptionsSchema>;

/** The options after defaults are applied. */
export interface ResolvedOptions extends z.output<typeof OpenIDOptionsSchema> {
  routeLogin: string;
  routeAuth: string;
  routeBackchannelLogout: string;
  routeLogout: string;
  routeLoggedOut: string;
  routeFrontchannelLogout: string;
  responseMode: 'query' | 'form_post';
}

/** Validates `input`, applies defaults, and throws a `TypeError` naming the first bad option. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (typeof input !== 'object' || input === null) {
    throw new TypeError('new OpenID(app, options): "options" must be an object');
  }
  const o = parseOptions(OpenIDOptionsSchema, input, 'new OpenID()');
  const scopes = o.scopes.includes('openid') ? [...new Set(o.scopes)] : ['openid', ...new Set(o.scopes)];
  if (o.tokenEndpointAuthMethod && o.tokenEndpointAuthMethod !== 'none' && !o.clientSecret) {
    throw new TypeError(`"tokenEndpointAuthMethod" ${o.tokenEndpointAuthMethod} needs "clientSecret"`);
  }
  if (o.baseUrl) {
    const u = new URL(o.baseUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError('"baseUrl" must be an http(s) URL');
    if (u.pathname !== '/' || u.search || u.hash) throw new TypeError('"baseUrl" must be an origin without path, query or fragment');
  }
  const template = o.issuer?.includes('{tenantid}') ?? false;
  if (template && !o.allowedTenants) {
    throw new TypeError('"allowedTenants" is required with a multi-tenant issuer ({tenantid}): the tenant ids allowed to log in, or \'any\'');
  }
  if (!template && o.allowedTenants) throw new TypeError('"allowedTenants" needs a multi-tenant "issuer" (with {tenantid})');
  for (const key of Object.keys(o.authorizationParams)) {
    if (RESERVED_PARAMS.has(key)) throw new TypeError(`"authorizationParams.${key}" is set by the library`);
  }
  if (o.userInfo && o.responseType === 'id_token') {
    throw new TypeError('"userInfo" needs an access token: responseType "id_token" gets none');
  }
  const responseMode = o.responseMode ?? (o.responseType === 'code' ? 'query' : 'form_post');
  if (o.responseType !== 'code' && responseMode !== 'form_post') {
    throw new TypeError(`"responseMode" must be form_post with responseType "${o.responseType}": tokens never go into a URL`);
  }
  const routeLogin = o.routeLogin ?? `/openid/${o.name}/login`;
  const routeAuth = o.routeAuth ?? `/openid/${o.name}/auth`;
  const routeBackchannelLogout = o.routeBackchannelLogout ?? `/openid/${o.name}/backchannel-logout`;
  const routeLogout = o.routeLogout ?? `/openid/${o.name}/logout`;
  const routeLoggedOut = o.routeLoggedOut ?? `/openid/${o.name}/logged-out`;
  const routeFrontchannelLogout = o.routeFrontchannelLogout ?? `/openid/${o.name}/frontchannel-logout`;
  if (new Set([routeLogin, routeAuth, routeBackchannelLogout, routeLogout, routeLoggedOut, routeFrontchannelLogout]).size < 6) {
    throw new TypeError('the routes ("routeLogin", "routeAuth", "routeLogout", "routeLoggedOut", "routeBackchannelLogout", "routeFrontchannelLogout") must differ');
  }
  for (const [key, url] of [['configuration', o.configuration], ['issuer', o.issuer]] as const) {
    if (url && !o.allowInsecureRequests && new URL(url).protocol !== 'https:') {
      throw new TypeError(`"${key}" must be an https URL (set "allowInsecureRequests" only for development)`);
    }
  }
  return redacting({ ...o, scopes, routeLogin, routeAuth, routeBackchannelLogout, routeLogout, routeLoggedOut, routeFrontchannelLogout, responseMode });
}

/**
 * Keeps the client secret out of everything that prints or copies the options: it is a
 * non-enumerable property (spreads, `Object.entries`, `for...in`, `structuredClone` and loggers that
 * walk an object's keys skip it), and `toJSON` and the `util.inspect` view show `[redacted]`.
 */
function redacting<T extends { clientSecret?: string | undefined }>(opts: T): T {
  if (opts.clientSecret !== undefined) Object.defineProperty(opts, 'clientSecret', { value: opts.clientSecret, enumerable: false });
  const shown = () => (opts.clientSecret === undefined ? { ...opts } : { ...opts, clientSecret: '[redacted]' });
  Object.defineProperty(opts, 'toJSON', { value: shown });
  Object.defineProperty(opts, inspect.custom, { value: shown });
  return opts;
}
