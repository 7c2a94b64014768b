/**
 * An embedded OpenID provider for development and tests: oidc-provider 9, in-process, on
 * http://127.0.0.1:PORT, with an in-memory store, a few fixed accounts and dev signing keys.
 * NEVER use it in production.
 *
 * Two modes:
 * - `interactive: true` (the demo, browser tests): oidc-provider's devInteractions pages. Any login
 *   name is accepted (an unknown name becomes an account with that `sub`); the password is ignored.
 *   Selectors, for Playwright or a form POST:
 *     login page:   `input[name="login"]` (text, required), `input[name="password"]` (required),
 *                   `button[type="submit"]` ("Sign-in"); the form also posts a hidden `prompt=login`.
 *     consent page: `button[type="submit"]` ("Continue"), hidden `prompt=consent`.
 *     Both forms POST to `/interaction/:uid` (their `action` attribute); the `<h1>` is
 *     "Sign-in" or "Authorize".
 * - `interactive: false` (the default for tests): no login or consent page. Every interaction
 *   finishes at once for the account chosen by `accountId` / `setAccount()`, and consent grants
 *   whatever the request is missing (progressive consent, `prompt=consent`, native clients all
 *   work). When the provider session belongs to another account than the chosen one, a new login
 *   is forced.
 *
 * RP-initiated logout (`end_session_endpoint`, on in both modes; register the client's
 * `post_logout_redirect_uris`) shows oidc-provider's own confirmation page, as a real provider
 * does: a form (`id="op.logoutForm"`, hidden `xsrf`) with the button "Yes, sign me out"
 * (`button[name="logout"]`, posts `logout=yes`: the provider session ends, the next login asks
 * again) and "No, stay signed in" (only this client's authorization ends; the session stays).
 *
 * What oidc-provider does by default, worth knowing in tests:
 * - ID tokens are signed RS256 (client metadata `id_token_signed_response_alg`).
 * - Scope claims (`profile`, `email`) go to userinfo, not into the code-flow ID token.
 * - A refresh token needs the client's `grant_types` to include `refresh_token`, the scope
 *   `offline_access` AND `prompt=consent` on the authorization request (else the scope is dropped).
 * - Native clients (`application_type: 'native'`) are always sent through consent.
 * - The RFC 9207 `iss` authorization response parameter is always sent and advertised.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type Koa from 'koa';

/** oidc-provider client metadata (snake_case, as registered). */
export interface ClientMetadata {
  client_id: string;
  client_secret?: string;
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  grant_types?: string[];
  response_types?: string[];
  token_endpoint_auth_method?: string;
  application_type?: 'web' | 'native';
  id_token_signed_response_alg?: string;
  [key: string]: unknown;
}

/**
 * What oidc-provider's `features.resourceIndicators.getResourceServerInfo` returns for one RFC 8707
 * resource indicator: the scopes this resource server knows and the form of its access tokens.
 */
export interface ResourceServerInfo {
  /** Space-separated scopes the resource server accepts, e.g. `'api:read api:admin'`. */
  scope: string;
  /** The access token's `aud`. Default: the resource indicator. */
  audience?: string;
  /** `'opaque'` (oidc-provider's default) or `'jwt'` (an RFC 9068 JWT the API verifies itself). */
  accessTokenFormat?: 'opaque' | 'jwt';
  /** Seconds. */
  accessTokenTTL?: number;
  /** For `'jwt'`: e.g. `{ sign: { alg: 'RS256' } }`. */
  jwt?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A time-to-live in seconds, or oidc-provider's `(ctx, token, client) => seconds` form. */
// oidc-provider passes its own objects; `any` keeps the passthrough usable without its types.
export type TTL = number | ((ctx: any, token: any, client: any) => number);

/** The parts of oidc-provider's interaction we use (it ships no TypeScript types). */
export interface InteractionDetails {
  uid: string;
  prompt: {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
      [key: string]: unknown;
    };
  };
  params: Record<string, unknown> & { client_id: string };
  session?: { accountId: string; uid: string };
  grantId?: string;
  returnTo: string;
}

/** The parts of an oidc-provider `Grant` we use. */
export interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}

/** oidc-provider's `Provider` (a Koa application), typed as far as these helpers need it. */
export interface Provider extends Koa {
  issuer: string;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionResult(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<string>;
  Grant: {
    new (init: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  };
  /** Everything else (AccessToken, Client, Session, ...), untyped. */
  [model: string]: any;
}

export interface DevProviderOptions {
  /** Port on 127.0.0.1. Default `0` (a free port). Reuse a closed provider's port to keep its issuer. */
  port?: number;
  /** The registered clients. */
  clients: ClientMetadata[];
  /** `true`: devInteractions login/consent pages. Default `false`: logins finish by themselves. */
  interactive?: boolean;
  /** The account that non-interactive logins use. Default `'alice'`. */
  accountId?: string;
  /**
   * RFC 8707 resource servers, by resource indicator (an absolute URI). When given,
   * `features.resourceIndicators` is on: a request naming one of these gets an access token for it
   * (with its scopes, `aud` and format), a token request without `resource` gets the resource that
   * was granted, and any other indicator is refused with `invalid_target`. Default: none
   * (resourceIndicators off, access tokens are opaque and for userinfo).
   */
  resourceServers?: Record<string, ResourceServerInfo>;
  /** Merged over the defaults (introspection, revocation, userinfo on; resourceIndicators per `resourceServers`). */
  features?: Record<string, unknown>;
  /** Merged over the defaults (AccessToken/IdToken 1 h, RefreshToken/Session/Grant 14 days), in seconds. */
  ttl?: Record<string, TTL>;
  /** Private signing JWKs. Default: one RS256 key generated at start, with a `kid`. */
  jwks?: { keys: JWK[] };
  /** Any other oidc-provider configuration, merged (shallowly) last. */
  extraConfig?: Record<string, unknown>;
}

export interface DevProvider {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  issuer: string;
  /** Same as `issuer`: the base URL of every endpoint. */
  url: string;
  provider: Provider;
  /** The private JWKs in use, e.g. to restart on the same port with `[newKey, ...jwks.keys]`. */
  jwks: { keys: JWK[] };
  /** Stops listening and drops open connections. Provider state (sessions, grants) is lost. */
  close(): Promise<void>;
  /** Which account non-interactive logins use from now on (forces a new login for it). */
  setAccount(id: string): void;
}

interface AccountClaims {
  sub: string;
  name: string;
  given_name: string;
  email: string;
  email_verified: boolean;
  preferred_username: string;
}

const ACCOUNTS: Record<string, AccountClaims> = {
  alice: {
    sub: 'alice',
    name: 'Alice Liddell',
    given_name: 'Alice',
    email: 'alice@example.test',
    email_verified: true,
    preferred_username: 'alice',
  },
  bob: {
    sub: 'bob',
    name: 'Bob Builder',
    given_name: 'Bob',
    email: 'bob@example.test',
    email_verified: false,
    preferred_username: 'bob',
  },
};

/** The claims of a fixed account, or made-up claims for any other name (as devInteractions does). */
export function accountClaims(id: string): AccountClaims {
  return (
    ACCOUNTS[id] ?? {
      sub: id,
      name: id,
      given_name: id,
      email: `${id}@example.test`,
      email_verified: false,
      preferred_username: id,
    }
  );
}

const INTERACTION_PATH = /^\/interaction\/([^/]+)$/;

// Printed by oidc-provider for every dev setup like this one; real errors are left alone.
const EXPECTED_NOTICES = [
  'Unsupported runtime',
  'development-only in-memory adapter',
  'development-only feature devInteractions',
];

async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const { warn } = console;
  console.warn = (...args: unknown[]) => {
    const text = String(args[0]);
    if (!EXPECTED_NOTICES.some((notice) => text.includes(notice))) warn.apply(console, args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => Provider;
  errors: { InvalidTarget: new (description?: string) => Error };
  interactionPolicy: {
    base(): Array<{ name: string; checks: unknown[] }> & {
      get(name: string): { checks: unknown[] } | undefined;
    };
    Check: new (
      reason: string,
      description: string,
      check: (ctx: any) => boolean,
    ) => unknown;
  };
}

async function defaultJwks(): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: `dev-${randomUUID()}`, alg: 'RS256', use: 'sig' }] };
}

function listen(port: number): Promise<ReturnType<typeof createServer>> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** `features.resourceIndicators` serving exactly `servers` (off without any). */
function resourceIndicators(
  servers: Record<string, ResourceServerInfo> | undefined,
  InvalidTarget: OidcProviderModule['errors']['InvalidTarget'],
): Record<string, unknown> {
  if (!servers || Object.keys(servers).length === 0) return { enabled: false };
  return {
    enabled: true,
    useGrantedResource: () => true,
    getResourceServerInfo(_ctx: unknown, indicator: string) {
      const info = Object.hasOwn(servers, indicator) ? servers[indicator] : undefined;
      if (!info) throw new InvalidTarget('unknown resource indicator');
      return info;
    },
  };
}

/** Starts the provider; resolves once it is listening. */
export async function startDevProvider(opts: DevProviderOptions): Promise<DevProvider> {
  const interactive = opts.interactive ?? false;
  let accountId = opts.accountId ?? 'alice';
  const jwks = opts.jwks ?? (await defaultJwks());

  // Imported lazily so that its "Unsupported runtime" notice (Node 20) can be silenced.
  // @ts-ignore -- oidc-provider ships no type declarations; OidcProviderModule describes what we use.
  const mod = (await quietly(() => import('oidc-provider'))) as unknown as OidcProviderModule;
  const { Provider: ProviderClass, interactionPolicy, errors } = mod;

  const server = await listen(opts.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const policy = interactionPolicy.base();
  if (!interactive) {
    // setAccount() must take effect even while the provider session belongs to someone else.
    policy.get('login')?.checks.push(
      new interactionPolicy.Check('dev_account_changed', 'the dev account was changed', (ctx) => {
        const current: string | undefined = ctx.oidc.session.accountId;
        return current !== undefined && current !== accountId && !ctx.oidc.result?.login;
      }),
    );
  }

  const configuration: Record<string, unknown> = {
    clients: opts.clients,
    jwks,
    // Browsers share cookies across ports: names with the port keep two dev providers on
    // 127.0.0.1 from overwriting each other's login cookies.
    cookies: {
      keys: ['dev-cookie-key-1 (not secret)', 'dev-cookie-key-0 (not secret)'],
      names: { session: `_op${port}_session`, interaction: `_op${port}_interaction`, resume: `_op${port}_resume` },
    },
    async findAccount(_ctx: unknown, sub: string) {
      return { accountId: sub, claims: async () => accountClaims(sub) };
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: interactive },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: resourceIndicators(opts.resourceServers, errors.InvalidTarget),
      rpMetadataChoices: { enabled: false },
      ...opts.features,
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      ...opts.ttl,
    },
    interactions: interactive
      ? { policy } // devInteractions serves its own /interaction/:uid pages
      : { policy, url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async renderError(ctx: Koa.Context, out: Record<string, string>) {
      ctx.type = 'text/plain';
      ctx.body = Object.entries(out)
        .map(([key, value]) => `${key}: ${value}`)
        .join('\n');
    },
    ...opts.extraConfig,
  };

  let provider: Provider;
  try {
    provider = await quietly(() => new ProviderClass(issuer, configuration));
  } catch (err) {
    server.close();
    throw err;
  }

  if (!interactive) provider.use(finishInteractions(provider, () => accountId));
  server.on('request', provider.callback());

  return {
    issuer,
    url: issuer,
    provider,
    jwks,
    setAccount(id: string) {
      accountId = id;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Answers `GET /interaction/:uid` by finishing the login or consent prompt without a page. */
function finishInteractions(provider: Provider, account: () => string): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || !INTERACTION_PATH.test(ctx.path)) return next();

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { name } = details.prompt;
    let result: Record<string, unknown>;
    if (name === 'login') {
      result = { login: { accountId: account() } };
    } else if (name === 'consent') {
      result = { consent: { grantId: await grantEverythingAsked(provider, details) } };
    } else {
      return ctx.throw(501, `dev provider: prompt ${name} is not handled`);
    }

    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: name === 'consent',
    });
    ctx.redirect(returnTo);
    ctx.status = 303;
    return undefined;
  };
}

/** Adds whatever the consent prompt says is missing to the existing (or a new) grant. */
async function grantEverythingAsked(provider: Provider, details: InteractionDetails): Promise<string> {
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant =
    existing ??
    new provider.Grant({
      accountId: details.session!.accountId,
      clientId: details.params.client_id,
    });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}
