/**
 * The session bench's OpenID provider: the project's dev provider (src/dev-provider,
 * oidc-provider 9, in this process, logins finish by themselves as `alice`), configured so that a
 * login stores about what a Keycloak login does:
 *
 * - access token: an RS256 JWT (RFC 8707 resource `RESOURCE`, oidc-provider's `jwt` format) with
 *   Keycloak's usual extra claims (typ, azp, sid, acr, realm_access, resource_access, name,
 *   preferred_username, email, email_verified): about 1.2 KB, 18 claims;
 * - refresh token: opaque, 4,800 bits of randomness (`formats.bitsOfOpaqueRandomness`): 800 chars,
 *   the size of Keycloak's (an HS-signed JWT there, opaque to the client either way); issued for
 *   every code grant of a client allowed `refresh_token` (no `offline_access` needed);
 * - ID token: RS256, 16 claims (`conformIdTokenClaims: false` puts the profile and email claims in
 *   it, as Keycloak does; `require_auth_time` adds auth_time): about 1 KB.
 *
 * The sizes come out of the token endpoint as they are; bench/sessions.ts prints what was stored.
 */
import type { JWK } from 'jose';
import { startDevProvider, type ClientMetadata, type DevProvider } from '../src/dev-provider/index.js';

/** The RFC 8707 resource indicator the access tokens are issued for (a JWT, like Keycloak's). */
export const RESOURCE = 'https://api.bench.example';
/** Scopes both apps ask for: the OpenID ones plus the resource's. */
export const SCOPES = ['openid', 'profile', 'email', 'api:read'];
export const ACCOUNT = 'alice';

/** The user's claims: the profile and email scopes' standard claims, Keycloak-like values. */
const PROFILE = {
  name: 'Alice Pleasance Liddell',
  given_name: 'Alice Pleasance',
  family_name: 'Liddell',
  preferred_username: 'alice.liddell',
  locale: 'en-GB',
  zoneinfo: 'Europe/London',
  updated_at: 1_764_000_000,
  email: 'alice.liddell@wonderland-engineering.example',
  email_verified: true,
};

/** Keycloak's extra access-token claims: token type, session, roles, and the user's name and email. */
function keycloakAccessClaims(clientId: string): Record<string, unknown> {
  return {
    typ: 'Bearer',
    azp: clientId,
    sid: '4b1f3c9e-8d2a-4e7b-9c61-2f5a7d3e8b90',
    acr: '1',
    realm_access: { roles: ['default-roles-bench', 'offline_access', 'uma_authorization'] },
    resource_access: { account: { roles: ['manage-account', 'view-profile'] } },
    name: PROFILE.name,
    preferred_username: PROFILE.preferred_username,
    email: PROFILE.email,
    email_verified: PROFILE.email_verified,
  };
}

export interface BenchClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** One dev provider whose clients are registered as given; close it with `close()`. */
export async function startBenchProvider(clients: BenchClient[], jwks?: { keys: JWK[] }): Promise<DevProvider> {
  const metadata: ClientMetadata[] = clients.map((c) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    redirect_uris: c.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // auth_time in every ID token, as Keycloak sends it.
    require_auth_time: true,
  }));
  return startDevProvider({
    clients: metadata,
    accountId: ACCOUNT,
    ...(jwks ? { jwks } : {}),
    resourceServers: {
      [RESOURCE]: { scope: 'api:read', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } }, accessTokenTTL: 3600 },
    },
    extraConfig: {
      async findAccount(_ctx: unknown, sub: string) {
        return { accountId: sub, claims: async () => ({ sub, ...PROFILE }) };
      },
      claims: {
        openid: ['sub'],
        profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale', 'zoneinfo', 'updated_at'],
        email: ['email', 'email_verified'],
      },
      conformIdTokenClaims: false,
      // oidc-provider passes its own token object; only `kind` and `clientId` are read.
      async extraTokenClaims(_ctx: unknown, token: { kind: string; clientId?: string }) {
        return token.kind === 'AccessToken' ? keycloakAccessClaims(token.clientId ?? '') : undefined;
      },
      async issueRefreshToken(_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) {
        return client.grantTypeAllowed('refresh_token');
      },
      formats: {
        bitsOfOpaqueRandomness: (_ctx: unknown, token: { kind: string }) => (token.kind === 'RefreshToken' ? 4800 : 256),
      },
    },
  });
}
