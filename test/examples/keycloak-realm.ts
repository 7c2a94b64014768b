/**
 * A Keycloak realm for the example tests, played by a real oidc-provider (./oidc-provider.ts) on a
 * free port of 127.0.0.1:
 * - issuer `http://127.0.0.1:PORT/realms/<realm>` (the provider mounted under that path), and
 *   Keycloak's endpoint paths (`/protocol/openid-connect/auth`, `/token`, `/certs`, `/logout`);
 * - access tokens are JWTs (a default resource indicator whose resource server takes JWTs)
 *   reshaped as Keycloak's: header `typ: JWT`, payload `typ: Bearer`, `azp` the client,
 *   `aud: account`, no `client_id`, `realm_access.roles` and `resource_access.<client>.roles`;
 *   the ID token carries the profile claims and no roles;
 * - no login or consent page (a login finishes as the user given to `signInAs()`), and
 *   RP-initiated logout with an `id_token_hint` is not confirmed by the user (its logout page
 *   posts itself), as in Keycloak 18+;
 * - back-channel logout to a client registered with `backchannel_logout_uri` (and
 *   `backchannel_logout_session_required`: its ID tokens then carry `sid`), when the user logs out
 *   at Keycloak and when `endSession()` ends a session as the admin console does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import { decodeJwt } from 'jose';

import { createProvider, listen, oidcErrors } from './oidc-provider.js';

export interface KeycloakUser {
  /** The user's full name (`name`); the user name (`preferred_username`) is the user's key. */
  name: string;
  realmRoles: string[];
  /** Roles of the app's client. */
  clientRoles: string[];
}

export interface KeycloakRealmOptions {
  realm: string;
  /**
   * The app's confidential client, as oidc-provider takes client metadata: `client_id`,
   * `client_secret`, `redirect_uris`, `post_logout_redirect_uris`, `backchannel_logout_uri`, ...
   */
  client: { client_id: string; client_secret: string; redirect_uris: string[] } & Record<string, unknown>;
  /** User name → the user. */
  users: Record<string, KeycloakUser>;
}

export interface KeycloakRealm {
  /** The Keycloak server, `http://127.0.0.1:PORT`: the `url` of `keycloak()`. */
  url: string;
  /** `<url>/realms/<realm>`. */
  issuer: string;
  /** The realm's OpenID Connect endpoints (`<issuer>/protocol/openid-connect/...`). */
  endpoints: { auth: string; token: string; logout: string };
  /** Serves a request (for a second server that plays Keycloak's internal URL). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The user the next login logs in. */
  signInAs(user: string): void;
  /** The token endpoint's answers, in order. */
  issued: Array<{ access_token: string; id_token: string }>;
  /** Ends the user's latest session as Keycloak's admin console does: a back-channel logout to the client. */
  endSession(user: string): Promise<void>;
  close(): Promise<void>;
}

const OIDC = '/protocol/openid-connect';
/** The resource indicator every token is for by default (a JWT resource server), its audience Keycloak's `account`. */
const ACCOUNT_RESOURCE = 'urn:keycloak-test:account';

export async function startKeycloakRealm(opts: KeycloakRealmOptions): Promise<KeycloakRealm> {
  const server = await listen();
  const issuer = `${server.origin}/realms/${opts.realm}`;
  const issued: KeycloakRealm['issued'] = [];

  /**
   * Keycloak's access token from oidc-provider's (RFC 9068-style) one: `typ: JWT` header, `typ:
   * Bearer`, `azp` instead of `client_id`, the session id, and the user's realm and client roles.
   */
  function keycloakShape(_ctx: unknown, token: { accountId?: string; sid?: string }, jwt: { header?: object; payload: Record<string, unknown> }): void {
    const { client_id: clientId, scope: _scope, ...claims } = jwt.payload;
    const user = opts.users[token.accountId!]!;
    jwt.header = { typ: 'JWT' };
    jwt.payload = {
      ...claims,
      typ: 'Bearer',
      azp: clientId,
      ...(token.sid ? { sid: token.sid } : {}),
      scope: 'openid profile email',
      preferred_username: token.accountId,
      realm_access: { roles: user.realmRoles },
      resource_access: {
        ...(user.clientRoles.length ? { [clientId as string]: { roles: user.clientRoles } } : {}),
        account: { roles: ['manage-account', 'view-profile'] },
      },
    };
  }

  const op = await createProvider({
    issuer,
    clients: [opts.client],
    accounts: Object.fromEntries(
      Object.entries(opts.users).map(([sub, user]) => [sub, { name: user.name, preferred_username: sub, email: `${sub}@example.test` }]),
    ),
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
    configuration: {
      // Keycloak puts the profile and email claims into the ID token.
      conformIdTokenClaims: false,
      routes: { authorization: `${OIDC}/auth`, token: `${OIDC}/token`, jwks: `${OIDC}/certs`, userinfo: `${OIDC}/userinfo`, end_session: `${OIDC}/logout` },
      features: {
        resourceIndicators: {
          enabled: true,
          defaultResource: () => ACCOUNT_RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo(_ctx: unknown, indicator: string) {
            if (indicator !== ACCOUNT_RESOURCE) throw new oidcErrors.InvalidTarget();
            return { scope: '', audience: 'account', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
          },
        },
        rpInitiatedLogout: {
          enabled: true,
          // Keycloak logs out at once when given an id_token_hint: the confirmation posts itself.
          async logoutSource(ctx: Koa.Context, form: string) {
            ctx.type = 'html';
            ctx.body = `<!doctype html><html><body>${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}<script>document.forms[0].submit()</script></body></html>`;
          },
        },
        backchannelLogout: { enabled: true },
      },
      formats: { customizers: { jwt: keycloakShape } },
      // oidc-provider's own fetch refuses loopback addresses (SSRF guard): logout tokens must reach the app on 127.0.0.1.
      fetch: (url: string, { dispatcher: _guard, ...init }: RequestInit & { dispatcher?: unknown }) => fetch(url, init),
      ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 3600, Grant: 3600 },
    },
  });
  op.provider.on('grant.success', (ctx: Koa.Context) => issued.push(ctx.body as KeycloakRealm['issued'][number]));
  server.setHandler(op.handle);

  return {
    url: server.origin,
    issuer,
    endpoints: { auth: `${issuer}${OIDC}/auth`, token: `${issuer}${OIDC}/token`, logout: `${issuer}${OIDC}/logout` },
    handle: op.handle,
    signInAs: op.signInAs,
    issued,
    async endSession(user) {
      const idToken = issued.map((t) => decodeJwt(t.id_token)).findLast((claims) => claims.sub === user);
      if (typeof idToken?.sid !== 'string') throw new Error(`no ID token with a sid for ${user}: register backchannel_logout_uri with backchannel_logout_session_required`);
      const client = await op.provider.Client.find(opts.client.client_id);
      await client!.backchannelLogout(user, idToken.sid);
    },
    close: server.close,
  };
}
