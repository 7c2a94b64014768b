/**
 * Microsoft Entra ID's v2 endpoints, played at `http://127.0.0.1:PORT` (the `authority`) by real
 * oidc-provider instances, one per tenant, each with the issuer `<authority>/<tenant id>/v2.0`
 * and mounted under that path, plus a thin multi-tenant front for `/organizations`:
 *
 * - `/organizations/v2.0/.well-known/openid-configuration` names the issuer template
 *   `<authority>/{tenantid}/v2.0`, no RFC 9207 `iss` response parameter, and the front's endpoints;
 * - its authorize endpoint does what Microsoft's sign-in page does with the user name typed in
 *   (the `login_hint`, else the one given to `signInAs()`): it sends the browser on to that user's
 *   home tenant, which logs the user in;
 * - its token endpoint passes the request on to the tenant that issued the code (or refresh token);
 * - its key set holds every tenant's signing keys, each with the template as `issuer`, as Entra
 *   ID's common key set does;
 * - its logout endpoint (`end_session_endpoint`) sends the browser back to the app's registered
 *   `post_logout_redirect_uri` with its `state` (the tenants' own sessions are left as they are).
 *
 * The tenants' tokens look like Entra ID's: ID tokens with `tid`, `oid` (the user's object id),
 * `roles` (app roles) and an opaque `sub`; no `iss` parameter on the authorization response;
 * access tokens for the app's API as JWTs with header `typ` `JWT`, `aud` the app's client id,
 * `scp` (the delegated scopes, space-separated), `tid`, `oid`, `azp`. A client asks for such a
 * token with the RFC 8707 `resource` `api://<client id>` here, where Entra ID reads the API from
 * the scope's `api://<client id>/` prefix; the token is the same.
 *
 * Each tenant's own oidc-provider session lives in the browser's cookies: log a second user of a
 * tenant in with a new browser.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { Browser } from '../support/http-client.js';
import { createProvider, listen, oidcErrors, type InProcessProvider } from './oidc-provider.js';

export interface EntraUser {
  /** The user name (user principal name), e.g. `alice@contoso.example`: its domain names the tenant. */
  upn: string;
  name: string;
  /** The object id, a GUID. */
  oid: string;
  /** App roles assigned to the user. */
  roles?: string[];
}

export interface EntraTenant {
  /** The tenant id, a GUID. */
  id: string;
  /** Its users' domain. */
  domain: string;
  users: EntraUser[];
}

export interface EntraIdOptions {
  /**
   * The multi-tenant web app: registered in every tenant (its service principal), its API too.
   * `postLogoutRedirectUri`: where the logout endpoint may send the browser back to.
   */
  app: { clientId: string; clientSecret: string; redirectUri: string; postLogoutRedirectUri?: string };
  /** The scopes the app's API exposes (`access_as_user`, ...). */
  apiScopes: string[];
  tenants: EntraTenant[];
}

export interface EntraId {
  /** Use as `azureAD({ authority })`. */
  authority: string;
  /** The user who "types their name" at the `/organizations` sign-in page when the login has no `login_hint`. */
  signInAs(upn: string): void;
  /**
   * A delegated access token for the app's API, as a client app (a SPA, a CLI: its own
   * registration, public, PKCE) gets it through the code flow at the user's tenant.
   */
  apiToken(upn: string, scopes: string[]): Promise<string>;
  /** Every request to the `/organizations` front: `GET /v2.0/.well-known/openid-configuration`, ... */
  frontRequests: string[];
  close(): Promise<void>;
}

/** The client app that calls the API (`apiToken()`). */
const CALLER = { clientId: 'a7d1c1f0-4b8e-4b59-9c1e-0f6f0c3e7b21', redirectUri: 'http://127.0.0.1:9/callback' };

/** Entra ID's `sub` is opaque (pairwise per app), unlike `oid`. */
const subOf = (tid: string, oid: string) => createHash('sha256').update(`${tid}/${oid}`).digest('base64url').slice(0, 43);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export async function startEntraId(opts: EntraIdOptions): Promise<EntraId> {
  const server = await listen();
  const authority = server.origin;
  const template = `${authority}/{tenantid}/v2.0`;
  const apiResource = `api://${opts.app.clientId}`;
  let signedIn: string | undefined;
  const frontRequests: string[] = [];

  const tenants: Array<{ tenant: EntraTenant; op: InProcessProvider }> = [];
  for (const tenant of opts.tenants) {
    const users = new Map(tenant.users.map((u) => [subOf(tenant.id, u.oid), u]));
    const claimsOf = (u: EntraUser) => ({ tid: tenant.id, oid: u.oid, name: u.name, preferred_username: u.upn, email: u.upn, ...(u.roles ? { roles: u.roles } : {}) });
    const op = await createProvider({
      issuer: `${authority}/${tenant.id}/v2.0`,
      clients: [
        { client_id: opts.app.clientId, client_secret: opts.app.clientSecret, redirect_uris: [opts.app.redirectUri], grant_types: ['authorization_code', 'refresh_token'] },
        { client_id: CALLER.clientId, token_endpoint_auth_method: 'none', redirect_uris: [CALLER.redirectUri] },
      ],
      accounts: Object.fromEntries([...users].map(([sub, u]) => [sub, claimsOf(u)])),
      // Entra ID puts these into the ID token (`tid` and app roles always, `oid` with `profile`).
      claims: { openid: ['sub', 'tid', 'roles'], profile: ['name', 'preferred_username', 'oid'], email: ['email'] },
      configuration: {
        conformIdTokenClaims: false,
        features: {
          resourceIndicators: {
            enabled: true,
            useGrantedResource: () => true,
            getResourceServerInfo(_ctx: unknown, indicator: string) {
              if (indicator !== apiResource) throw new oidcErrors.InvalidTarget();
              return { scope: opts.apiScopes.join(' '), audience: opts.app.clientId, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
            },
          },
        },
        formats: {
          customizers: {
            // An Entra ID v2 access token: `scp`, `tid`, `oid`, `azp`, header `typ` JWT.
            jwt(_ctx: unknown, token: { accountId?: string }, jwt: { header?: Record<string, unknown>; payload: Record<string, unknown> }) {
              const user = token.accountId === undefined ? undefined : users.get(token.accountId);
              const { scope, client_id: azp, ...payload } = jwt.payload;
              jwt.header = { typ: 'JWT' };
              jwt.payload = { ...payload, scp: scope, azp, ver: '2.0', ...(user ? { tid: tenant.id, oid: user.oid, ...(user.roles ? { roles: user.roles } : {}) } : {}) };
            },
          },
        },
      },
    });
    // Entra ID sends no RFC 9207 `iss` with the authorization response.
    op.provider.use(async (ctx: Context, next: () => Promise<void>) => {
      await next();
      const location = ctx.response.get('location');
      const url = location ? new URL(location, ctx.href) : undefined;
      if (!url?.searchParams.has('iss')) return;
      url.searchParams.delete('iss');
      ctx.set('location', url.href);
    });
    tenants.push({ tenant, op });
  }

  const homeOf = (upn: string) => {
    const home = tenants.find(({ tenant }) => upn.endsWith(`@${tenant.domain}`));
    const user = home?.tenant.users.find((u) => u.upn === upn);
    if (!home || !user) throw new Error(`no tenant has the user ${upn}`);
    return { ...home, sub: subOf(home.tenant.id, user.oid) };
  };

  const front = `${authority}/organizations`;
  const discovery = {
    issuer: template,
    authorization_endpoint: `${front}/oauth2/v2.0/authorize`,
    token_endpoint: `${front}/oauth2/v2.0/token`,
    jwks_uri: `${front}/discovery/v2.0/keys`,
    end_session_endpoint: `${front}/oauth2/v2.0/logout`,
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'preferred_username', 'email', 'oid', 'tid', 'roles'],
  };

  async function organizations(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    frontRequests.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path === '/v2.0/.well-known/openid-configuration') return json(res, 200, discovery);
    if (req.method === 'GET' && path === '/discovery/v2.0/keys') {
      return json(res, 200, { keys: tenants.flatMap(({ op }) => op.publicKeys.map((key) => ({ ...key, issuer: template }))) });
    }
    if (req.method === 'GET' && path === '/oauth2/v2.0/authorize') {
      // Home realm discovery: the user's domain names the tenant that signs them in.
      const upn = query.get('login_hint') ?? signedIn;
      if (!upn) return json(res, 400, { error: 'invalid_request', error_description: 'test: no login_hint and no signInAs()' });
      const { op, sub } = homeOf(upn);
      op.signInAs(sub);
      res.writeHead(302, { location: `${op.issuer}/auth?${query}` });
      return void res.end();
    }
    if (req.method === 'POST' && path === '/oauth2/v2.0/token') {
      const body = await readBody(req);
      const params = new URLSearchParams(body);
      const code = params.get('code');
      const refresh = params.get('refresh_token');
      let issuedBy: InProcessProvider | undefined;
      for (const { op } of tenants) {
        if ((code && (await op.provider.AuthorizationCode.find(code))) || (refresh && (await op.provider.RefreshToken.find(refresh)))) issuedBy = op;
      }
      if (!issuedBy) return json(res, 400, { error: 'invalid_grant', error_description: 'test: no tenant issued this grant' });
      const headers: Record<string, string> = { 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded' };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const answer = await fetch(`${issuedBy.issuer}/token`, { method: 'POST', headers, body });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' });
      return void res.end(await answer.text());
    }
    if (req.method === 'GET' && path === '/oauth2/v2.0/logout') {
      const back = query.get('post_logout_redirect_uri');
      if (query.get('client_id') !== opts.app.clientId || !back || back !== opts.app.postLogoutRedirectUri) {
        return json(res, 400, { error: 'invalid_request', error_description: 'test: unknown client or post_logout_redirect_uri' });
      }
      const to = new URL(back);
      const state = query.get('state');
      if (state) to.searchParams.set('state', state);
      res.writeHead(302, { location: to.href });
      return void res.end();
    }
    return json(res, 404, { error: 'not_found' });
  }

  server.setHandler((req, res) => {
    const url = new URL(req.url!, authority);
    if (url.pathname.startsWith('/organizations/')) {
      organizations(req, res, url.pathname.slice('/organizations'.length), url.searchParams).catch((err: unknown) => json(res, 500, { error: String(err) }));
      return;
    }
    const tenant = tenants.find(({ op }) => url.pathname.startsWith(`${new URL(op.issuer).pathname}/`));
    if (tenant) return tenant.op.handle(req, res);
    json(res, 404, { error: 'not_found' });
  });

  return {
    authority,
    signInAs: (upn) => void (signedIn = upn),
    frontRequests,
    async apiToken(upn, scopes) {
      const { op, sub } = homeOf(upn);
      op.signInAs(sub);
      const verifier = randomBytes(32).toString('base64url');
      const authorize = new URL(`${op.issuer}/auth`);
      authorize.search = new URLSearchParams({
        client_id: CALLER.clientId,
        response_type: 'code',
        redirect_uri: CALLER.redirectUri,
        scope: ['openid', ...scopes].join(' '),
        resource: apiResource,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const { stoppedAt } = await new Browser().follow(authorize, { stopAt: CALLER.redirectUri });
      const code = stoppedAt?.searchParams.get('code');
      if (!code) throw new Error(`no code for ${upn}: ${stoppedAt?.href}`);
      const res = await fetch(`${op.issuer}/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLER.redirectUri, client_id: CALLER.clientId, code_verifier: verifier, resource: apiResource }),
      });
      const tokens = (await res.json()) as { access_token?: string };
      if (!tokens.access_token) throw new Error(`no access token for ${upn}: ${JSON.stringify(tokens)}`);
      return tokens.access_token;
    },
    close: server.close,
  };
}
