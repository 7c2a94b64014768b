/**
 * The shapes of the development provider: its options, the handle it returns, and the parts of
 * oidc-provider it uses (oidc-provider ships no TypeScript types).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { JWK } from 'jose';
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
  /** OpenID Connect Back-Channel Logout: where logout tokens are posted (turns the feature on). */
  backchannel_logout_uri?: string;
  /** With `true`, logout tokens carry the `sid` of the provider session that ended. */
  backchannel_logout_session_required?: boolean;
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

/** The parts of oidc-provider's interaction we use. */
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
  /**
   * The host name in the issuer (and so in every endpoint URL), e.g. `'localhost'`. Default
   * `'127.0.0.1'`. The provider listens on 127.0.0.1 only, whatever the name: use a name that
   * reaches it there. (The endpoint URLs of the discovery document follow the host a request names.)
   */
  issuerHost?: string;
  /**
   * The registered clients. A client with a `backchannel_logout_uri` turns back-channel logout on
   * (`features.backchannelLogout`); register `post_logout_redirect_uris` for RP-initiated logout.
   */
  clients: ClientMetadata[];
  /** `true`: devInteractions login/consent pages. Default `false`: logins finish by themselves. */
  interactive?: boolean;
  /** The account that non-interactive logins use. Default `'alice'`. */
  accountId?: string;
  /**
   * `true`: every client may use the `refresh_token` grant (it is added to `grant_types` next to
   * `authorization_code`), and every code-flow login gets a refresh token, as Keycloak does; it ends
   * with the provider session unless `offline_access` was granted. Default `false`: oidc-provider's
   * rule (the client's `grant_types` list `refresh_token`, and the login asked for `offline_access`
   * with `prompt=consent`).
   */
  refreshTokens?: boolean;
  /**
   * The `aud` of access tokens, to try an API protected by bearer tokens: every access token is an
   * RFC 9068 JWT (RS256) for this audience unless the client asks for another RFC 8707 `resource`.
   * Such tokens are not for the userinfo endpoint (oidc-provider refuses a token with an audience
   * there), so the ID token then carries the scope claims (`profile`, `email`) itself. An audience
   * that is an absolute URI is also its resource indicator. Default: none (opaque access tokens for
   * userinfo).
   */
  audience?: string;
  /** The scopes the `audience` API accepts (granted when a login asks for them). Default: none. */
  apiScopes?: string[];
  /**
   * RFC 8707 resource servers, by resource indicator (an absolute URI). When given,
   * `features.resourceIndicators` is on: a request naming one of these gets an access token for it
   * (with its scopes, `aud` and format), a token request without `resource` gets the resource that
   * was granted, and any other indicator is refused with `invalid_target`. Default: none
   * (resourceIndicators off, access tokens are opaque and for userinfo).
   */
  resourceServers?: Record<string, ResourceServerInfo>;
  /** Merged over the defaults (introspection, revocation, userinfo on; resourceIndicators and backchannelLogout as set up above). */
  features?: Record<string, unknown>;
  /** Merged over the defaults (AccessToken/IdToken 1 h, RefreshToken/Session/Grant 14 days), in seconds. */
  ttl?: Record<string, TTL>;
  /** Private signing JWKs. Default: one RS256 key generated at start, with a `kid`. */
  jwks?: { keys: JWK[] };
  /** Any other oidc-provider configuration, merged (shallowly) last. */
  extraConfig?: Record<string, unknown>;
}

export interface DevProvider {
  /** `http://127.0.0.1:PORT` (or the `issuerHost`), no trailing slash. */
  issuer: string;
  /** Same as `issuer`: the base URL of every endpoint. */
  url: string;
  /** `<issuer>/.well-known/openid-configuration`: what `new OpenID(app, { configuration })` takes. */
  discovery: string;
  provider: Provider;
  /** The private JWKs in use, e.g. to restart on the same port with `[newKey, ...jwks.keys]`. */
  jwks: { keys: JWK[] };
  /** Stops listening and drops open connections. Provider state (sessions, grants) is lost. */
  close(): Promise<void>;
  /** Which account non-interactive logins use from now on (forces a new login for it). */
  setAccount(id: string): void;
}
