/**
 * The oidc-provider configuration of the development provider, built from its options: clients,
 * keys, cookies, accounts, scopes and claims, features, lifetimes, interactions.
 */
import type Koa from 'koa';
import type { JWK } from 'jose';

import { accountClaims } from './accounts.js';
import type { OidcProviderModule } from './load-oidc-provider.js';
import type { ClientMetadata, DevProviderOptions, ResourceServerInfo } from './types.js';

export interface ConfigurationInput {
  opts: DevProviderOptions;
  /** The port it listens on: its cookie names carry it. */
  port: number;
  jwks: { keys: JWK[] };
  /** From `interactionPolicy()`. */
  policy: unknown;
  /** `features.interactions.url` for non-interactive mode; `undefined`: devInteractions' own pages. */
  interactionUrl?: (ctx: unknown, interaction: { uid: string }) => string;
  InvalidTarget: OidcProviderModule['errors']['InvalidTarget'];
}

/** The RFC 8707 resource indicator of an audience: the audience itself when it is an absolute URI without fragment. */
export function audienceIndicator(audience: string): string {
  return URL.canParse(audience) && !audience.includes('#') ? audience : `urn:koa-session-openid:dev-provider:audience:${encodeURIComponent(audience)}`;
}

/** With `refreshTokens`: `refresh_token` next to `authorization_code` in every code-flow client's grant types. */
function withRefreshGrant(client: ClientMetadata): ClientMetadata {
  const grantTypes = client.grant_types ?? ['authorization_code'];
  if (!grantTypes.includes('authorization_code') || grantTypes.includes('refresh_token')) return client;
  return { ...client, grant_types: [...grantTypes, 'refresh_token'] };
}

/** `features.resourceIndicators`: the `resourceServers`, plus the `audience` API as the default resource (off without any). */
function resourceIndicators(opts: DevProviderOptions, InvalidTarget: ConfigurationInput['InvalidTarget']): Record<string, unknown> {
  const servers: Record<string, ResourceServerInfo> = { ...opts.resourceServers };
  const defaultIndicator = opts.audience === undefined ? undefined : audienceIndicator(opts.audience);
  if (defaultIndicator !== undefined) {
    servers[defaultIndicator] = {
      scope: (opts.apiScopes ?? []).join(' '),
      audience: opts.audience,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  }
  if (Object.keys(servers).length === 0) return { enabled: false };
  return {
    enabled: true,
    ...(defaultIndicator === undefined
      ? {}
      : {
          // A request without `resource` is for the audience API; with several granted, prefer it.
          defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string[]) =>
            oneOf === undefined ? defaultIndicator : oneOf.includes(defaultIndicator) ? defaultIndicator : oneOf,
        }),
    useGrantedResource: () => true,
    getResourceServerInfo(_ctx: unknown, indicator: string) {
      const info = Object.hasOwn(servers, indicator) ? servers[indicator] : undefined;
      if (!info) throw new InvalidTarget('unknown resource indicator');
      return info;
    },
  };
}

/**
 * oidc-provider's `fetch` without its SSRF guard (the `dispatcher` it passes refuses loopback
 * addresses): logout tokens must reach apps on 127.0.0.1.
 */
function loopbackFetch(url: string, { dispatcher: _dispatcher, ...init }: RequestInit & { dispatcher?: unknown }): Promise<Response> {
  return fetch(url, init);
}

export function devConfiguration({ opts, port, jwks, policy, interactionUrl, InvalidTarget }: ConfigurationInput): Record<string, unknown> {
  const clients = opts.refreshTokens ? opts.clients.map(withRefreshGrant) : opts.clients;
  return {
    clients,
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
    // Access tokens for an API are refused at userinfo: the ID token carries the scope claims then.
    ...(opts.audience === undefined ? {} : { conformIdTokenClaims: false }),
    ...(opts.refreshTokens
      ? { issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token') }
      : {}),
    fetch: loopbackFetch,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: interactionUrl === undefined },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: clients.some((c) => c.backchannel_logout_uri !== undefined) },
      resourceIndicators: resourceIndicators(opts, InvalidTarget),
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
    // devInteractions serves its own /interaction/:uid pages; else finishInteractions answers them.
    interactions: interactionUrl === undefined ? { policy } : { policy, url: interactionUrl },
    async renderError(ctx: Koa.Context, out: Record<string, string>) {
      ctx.type = 'text/plain';
      ctx.body = Object.entries(out)
        .map(([key, value]) => `${key}: ${value}`)
        .join('\n');
    },
    ...opts.extraConfig,
  };
}
