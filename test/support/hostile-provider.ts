/**
 * A fake OpenID provider for negative tests: a bare node http server on 127.0.0.1 that answers
 * like a provider (discovery, JWKS, authorize, token, userinfo) but lets each test craft what it
 * sends: forged ID tokens, wrong `iss` parameters, rotated keys, server errors, outages.
 *
 * It validates almost nothing on purpose. What it does check, so that the happy path is honest:
 * the token endpoint knows the code (one use only), the PKCE S256 verifier matches the challenge,
 * and `redirect_uri` is the one the code was issued for; otherwise it answers `invalid_grant`.
 *
 * Typical use:
 *   const op = await startHostileProvider({ clientId: 'app' });
 *   op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), aud: 'someone-else' }));
 *   op.onAuthorize((redirect) => redirect.set('iss', 'https://evil.example'));
 *   await op.keys.rotate();                  // RP's cached JWKS is now stale
 *   op.down = true;                          // every request: socket destroyed
 *
 * RFC 7662 introspection (`POST /introspect`, advertised as `introspection_endpoint`): the caller
 * must authenticate as a client, like at the token endpoint (HTTP Basic or `client_id` in the
 * body), else `401 invalid_client` with a `Basic` challenge (RFC 6749 §5.2). The answer is
 * `{ active: true, sub, scope, aud, exp, client_id, iss }` for an unexpired access token it issued
 * (token endpoint or `issueAccessToken`), `{ active: false }` for anything else; `onIntrospect`
 * replaces it, `introspectionRequests` counts the requests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';

export type Alg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA';

/** What an endpoint sends instead of its default answer. */
export type Answer =
  /** JSON body (`status` default 200), optionally after `delay` ms. */
  | { status?: number; json: unknown; headers?: Record<string, string>; delay?: number }
  /** Raw body, e.g. invalid JSON or an HTML error page. `contentType` default `application/json`. */
  | { status?: number; text: string; contentType?: string; headers?: Record<string, string>; delay?: number }
  /** Hang up without answering. */
  | { destroy: true }
  /** Never answer (until `close()`): for timeouts. */
  | { hang: true };

export type TokenAnswer = Answer;

export interface SigningKey {
  privateKey: CryptoKey;
  /** As published in the JWKS, with `kid`, `alg` and `use: 'sig'`. */
  publicJwk: JWK;
  kid: string;
  alg: Alg;
}

/** What the authorize endpoint remembered for a code. */
export interface AuthorizationRequest {
  code: string;
  clientId: string;
  redirectUri: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  scope: string;
  sub: string;
  /** Epoch seconds of the (pretend) authentication. */
  authTime: number;
  /** Every parameter as received. */
  params: URLSearchParams;
}

export interface TokenContext {
  grantType: string;
  /** `''` for grants other than `authorization_code`. */
  code: string;
  /** The authorization request's nonce; `undefined` if none (and for refresh). */
  nonce: string | undefined;
  clientId: string;
  /** The provider's real issuer (even if a test changed `discovery.issuer`). */
  issuer: string;
  sub: string;
  scope: string;
  /** Alg of the current signing key when the request came in. */
  alg: Alg;
  /** The access token the default answer sends (already known to userinfo). */
  accessToken: string;
  /** The refresh token the default answer sends when the scope has `offline_access`. */
  refreshToken: string | undefined;
  authTime: number;
  authorization: AuthorizationRequest | undefined;
  body: URLSearchParams;
  headers: Record<string, string>;
}

export interface UserinfoContext {
  accessToken: string | undefined;
  /** The `sub` the access token was issued for; `undefined` for an unknown token. */
  sub: string | undefined;
  headers: Record<string, string>;
}

/** An opaque access token the provider issued (what introspection tells about it). */
export interface IssuedAccessToken {
  sub: string;
  /** Space separated. */
  scope: string;
  aud: string | string[];
  /** Epoch seconds. */
  exp: number;
  /** The client it was issued to. */
  clientId: string;
}

export interface IntrospectionContext {
  /** The `token` parameter (`''` when missing). */
  token: string;
  /** What the provider issued this token as, or `undefined` (unknown token, refresh token...). */
  issued: IssuedAccessToken | undefined;
  /** The authenticated client (HTTP Basic or the body). */
  clientId: string;
  /** The client secret it sent (Basic or `client_secret`), if any. */
  clientSecret: string | undefined;
  /** The answer the endpoint sends by default: `{ active: true, ... }` or `{ active: false }`. */
  answer: Record<string, unknown>;
  body: URLSearchParams;
  headers: Record<string, string>;
}

export interface RequestInfo {
  method: string;
  url: URL;
  /** Path under the issuer, e.g. `/token`, `/.well-known/openid-configuration`. */
  route: string;
  headers: Record<string, string>;
}

export interface HostileProvider {
  /** `http://127.0.0.1:PORT` plus the optional `path`; no trailing slash. */
  issuer: string;
  /** `issuer + '/.well-known/openid-configuration'`. */
  discoveryUrl: string;
  keys: {
    /** Signs ID tokens from now on. */
    current: SigningKey;
    /** The public JWKs served by the JWKS endpoint (mutable). */
    published: JWK[];
    /** New current key (default: same alg), published at once; the old one stays unless `keepOld: false`. */
    rotate(alg?: Alg, options?: { keepOld?: boolean }): Promise<SigningKey>;
  };
  /** The `sub` that the next authorizations are for. Default `'alice'`. */
  subject: string;
  /** Replaces the token endpoint's answer (after its code and PKCE checks); `undefined` resets. */
  onToken(fn: ((ctx: TokenContext) => TokenAnswer | Promise<TokenAnswer>) | undefined): void;
  /**
   * Called before the authorize redirect with its query (`code`, `state`, `iss` when advertised):
   * mutate it (wrong `iss`, no `state`, add `error`...) or return an Answer to send instead.
   */
  onAuthorize(
    fn: ((redirect: URLSearchParams, request: AuthorizationRequest) => Answer | void | Promise<Answer | void>) | undefined,
  ): void;
  /** Replaces the userinfo answer (default `{ sub }` for a known access token, else 401). */
  onUserinfo(fn: ((ctx: UserinfoContext) => Answer | Promise<Answer>) | undefined): void;
  /** Replaces the introspection answer (after the client authentication check); `undefined` resets. */
  onIntrospect(fn: ((ctx: IntrospectionContext) => Answer | Promise<Answer>) | undefined): void;
  /** Registers a new opaque access token, as the token endpoint would (default: `subject`, scope `openid`, aud the client id, exp in 5 min). */
  issueAccessToken(fields?: Partial<IssuedAccessToken>): string;
  /** Runs before every endpoint; an Answer replaces the endpoint (e.g. a broken JWKS). */
  intercept(fn: ((req: RequestInfo) => Answer | undefined | Promise<Answer | undefined>) | undefined): void;
  /** The default token answer for `ctx` with the given ID token: claims are signed with the current key, a string is sent as is, `null` leaves `id_token` out. `extra` is merged into the JSON. */
  tokenAnswer(
    ctx: TokenContext,
    idToken?: Record<string, unknown> | string | null,
    extra?: Record<string, unknown>,
  ): Promise<TokenAnswer>;
  /** A compact JWS of `claims` with the current key (or `key`); `header` overrides (`alg: 'none'` gives an unsigned JWT, `kid: undefined` drops the kid). */
  sign(
    claims: Record<string, unknown> | string,
    header?: Record<string, unknown>,
    key?: CryptoKey | Uint8Array,
  ): Promise<string>;
  /** The discovery document served (mutable). */
  discovery: Record<string, unknown>;
  discoveryRequests: number;
  jwksRequests: number;
  tokenRequests: Array<{ body: URLSearchParams; headers: Record<string, string> }>;
  /** Requests received by the introspection endpoint. */
  introspectionRequests: number;
  /** Every authorization request received, oldest first. */
  authorizations: AuthorizationRequest[];
  /**
   * Refresh tokens rotate (Keycloak's "Revoke Refresh Token", max reuse 0): each refresh grant
   * answers a new one and spends the old; a second use of a spent token is `invalid_grant` and
   * revokes the newer one too (RFC 9700 §4.14.2). Default `false` (the token stays).
   */
  rotateRefreshTokens: boolean;
  /** When true, every request meets the `outage`. */
  down: boolean;
  /** What `down` does: `'destroy'` the socket (default), answer `503`, or `'hang'`. */
  outage: 'destroy' | 503 | 'hang';
  close(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);
const random = () => randomBytes(24).toString('base64url');

/** Claims of a valid ID token for this token request: `iss`, `aud`, `sub`, `iat`, `exp` (+5 min), `auth_time`, `nonce` (when there was one), `at_hash`. */
export function validIdTokenClaims(ctx: TokenContext): Record<string, unknown> {
  return {
    iss: ctx.issuer,
    aud: ctx.clientId,
    sub: ctx.sub,
    iat: now(),
    exp: now() + 300,
    auth_time: ctx.authTime,
    ...(ctx.nonce === undefined ? {} : { nonce: ctx.nonce }),
    at_hash: tokenHash(ctx.accessToken, ctx.alg),
  };
}

/** OIDC Core §3.1.3.6 `at_hash` / `c_hash`: left half of the alg's hash (SHA-512 for Ed25519). */
export function tokenHash(token: string, alg: string): string {
  const hash = alg === 'EdDSA' ? 'sha512' : `sha${alg.slice(2)}`;
  const digest = createHash(hash).update(token).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** The same JWT with a corrupted signature (first signature character changed). */
export function tamperSignature(jwt: string): string {
  const [header, payload, signature = ''] = jwt.split('.');
  const first = signature[0] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${first}${signature.slice(1)}`;
}

async function newKey(alg: Alg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `hostile-${random().slice(0, 12)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, publicJwk, kid, alg };
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Client id and secret from HTTP Basic (RFC 6749 §2.3.1: form-urlencoded inside) or the body. */
function clientOf(headers: Record<string, string>, body: URLSearchParams): { id?: string; secret?: string } {
  const basic = /^Basic (.+)$/i.exec(headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const part = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: part(decoded.slice(0, colon)), secret: part(decoded.slice(colon + 1)) };
  }
  return { id: body.get('client_id') ?? undefined, secret: body.get('client_secret') ?? undefined };
}

async function send(req: IncomingMessage, res: ServerResponse, answer: Answer): Promise<void> {
  if ('destroy' in answer) {
    req.socket.destroy();
    return;
  }
  if ('hang' in answer) return;
  if (answer.delay) await sleep(answer.delay);
  if (res.destroyed) return;
  const isJson = 'json' in answer;
  const body = isJson ? JSON.stringify(answer.json) : answer.text;
  res.writeHead(answer.status ?? 200, {
    'content-type': isJson ? 'application/json' : (answer.contentType ?? 'application/json'),
    'cache-control': 'no-store',
    ...answer.headers,
  });
  res.end(body);
}

const oauthError = (status: number, error: string, description: string): Answer => ({
  status,
  json: { error, error_description: description },
});

/** Starts the fake provider on a free port of 127.0.0.1. */
export async function startHostileProvider(
  opts: { clientId?: string; alg?: Alg; path?: string } = {},
): Promise<HostileProvider> {
  const defaultClientId = opts.clientId ?? 'client';
  const basePath = (opts.path ?? '').replace(/\/+$/, '');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${basePath}`;

  const codes = new Map<string, AuthorizationRequest>();
  const refreshTokens = new Map<string, AuthorizationRequest>();
  /** With rotation: each spent refresh token, and the one that replaced it. */
  const spentRefreshTokens = new Map<string, string>();
  const accessTokens = new Map<string, IssuedAccessToken>();
  let tokenHook: ((ctx: TokenContext) => TokenAnswer | Promise<TokenAnswer>) | undefined;
  let authorizeHook: ((redirect: URLSearchParams, request: AuthorizationRequest) => Answer | void | Promise<Answer | void>) | undefined;
  let userinfoHook: ((ctx: UserinfoContext) => Answer | Promise<Answer>) | undefined;
  let interceptHook: ((req: RequestInfo) => Answer | undefined | Promise<Answer | undefined>) | undefined;
  let introspectHook: ((ctx: IntrospectionContext) => Answer | Promise<Answer>) | undefined;

  const first = await newKey(opts.alg ?? 'RS256');

  const op: HostileProvider = {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    keys: {
      current: first,
      published: [first.publicJwk],
      async rotate(alg = op.keys.current.alg, { keepOld = true } = {}) {
        const key = await newKey(alg);
        op.keys.current = key;
        op.keys.published = keepOld ? [key.publicJwk, ...op.keys.published] : [key.publicJwk];
        const algs = op.discovery.id_token_signing_alg_values_supported;
        if (Array.isArray(algs) && !algs.includes(alg)) algs.push(alg);
        return key;
      },
    },
    subject: 'alice',
    onToken: (fn) => void (tokenHook = fn),
    onAuthorize: (fn) => void (authorizeHook = fn),
    onUserinfo: (fn) => void (userinfoHook = fn),
    intercept: (fn) => void (interceptHook = fn),
    onIntrospect: (fn) => void (introspectHook = fn),
    issueAccessToken(fields = {}) {
      const token = random();
      const clientId = fields.clientId ?? defaultClientId;
      accessTokens.set(token, { sub: op.subject, scope: 'openid', aud: clientId, exp: now() + 300, clientId, ...fields });
      return token;
    },
    async tokenAnswer(ctx, idToken = validIdTokenClaims(ctx), extra = {}) {
      const id_token = typeof idToken === 'object' && idToken !== null ? await op.sign(idToken) : idToken;
      return {
        json: {
          access_token: ctx.accessToken,
          token_type: 'Bearer',
          expires_in: 300,
          scope: ctx.scope,
          ...(id_token === null ? {} : { id_token }),
          ...(ctx.refreshToken === undefined ? {} : { refresh_token: ctx.refreshToken }),
          ...extra,
        },
      };
    },
    async sign(claims, header = {}, key) {
      const payload = typeof claims === 'string' ? claims : JSON.stringify(claims);
      const { alg, kid } = op.keys.current;
      const protectedHeader = { alg, kid, typ: 'JWT', ...header } as { alg: string };
      if (protectedHeader.alg === 'none') {
        const encode = (text: string) => Buffer.from(text).toString('base64url');
        return `${encode(JSON.stringify(protectedHeader))}.${encode(payload)}.`;
      }
      return new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader(protectedHeader)
        .sign(key ?? op.keys.current.privateKey);
    },
    discovery: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      userinfo_endpoint: `${issuer}/userinfo`,
      introspection_endpoint: `${issuer}/introspect`,
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'form_post'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      id_token_signing_alg_values_supported: [first.alg],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      subject_types_supported: ['public'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash'],
    },
    discoveryRequests: 0,
    jwksRequests: 0,
    tokenRequests: [],
    introspectionRequests: 0,
    authorizations: [],
    rotateRefreshTokens: false,
    down: false,
    outage: 'destroy',
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };

  async function authorize(params: URLSearchParams): Promise<Answer> {
    const redirectUri = params.get('redirect_uri');
    if (!redirectUri) return { status: 400, text: 'redirect_uri is required', contentType: 'text/plain' };
    const request: AuthorizationRequest = {
      code: random(),
      clientId: params.get('client_id') ?? defaultClientId,
      redirectUri,
      state: params.get('state') ?? undefined,
      nonce: params.get('nonce') ?? undefined,
      codeChallenge: params.get('code_challenge') ?? undefined,
      codeChallengeMethod: params.get('code_challenge_method') ?? undefined,
      scope: params.get('scope') ?? 'openid',
      sub: op.subject,
      authTime: now(),
      params,
    };
    codes.set(request.code, request);
    op.authorizations.push(request);

    const redirect = new URLSearchParams({ code: request.code });
    if (request.state !== undefined) redirect.set('state', request.state);
    if (op.discovery.authorization_response_iss_parameter_supported === true) redirect.set('iss', issuer);
    const replaced = await authorizeHook?.(redirect, request);
    if (replaced) return replaced;

    if (params.get('response_mode') === 'form_post') {
      const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      const inputs = [...redirect]
        .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}"/>`)
        .join('');
      return {
        text: `<!DOCTYPE html><html><head><script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });</script></head><body><form method="post" action="${escape(redirectUri)}">${inputs}</form></body></html>`,
        contentType: 'text/html',
      };
    }
    const location = new URL(redirectUri);
    for (const [k, v] of redirect) location.searchParams.append(k, v);
    return { status: 302, text: '', contentType: 'text/plain', headers: { location: location.href } };
  }

  async function token(body: URLSearchParams, headers: Record<string, string>): Promise<Answer> {
    op.tokenRequests.push({ body, headers });
    const grantType = body.get('grant_type') ?? '';
    let request: AuthorizationRequest | undefined;
    if (grantType === 'authorization_code') {
      request = codes.get(body.get('code') ?? '');
      if (!request) return oauthError(400, 'invalid_grant', 'unknown or used code');
      codes.delete(request.code);
      const verifier = body.get('code_verifier');
      if (request.codeChallenge !== undefined || verifier !== null) {
        const expected = createHash('sha256').update(verifier ?? '').digest('base64url');
        if (verifier === null || request.codeChallengeMethod !== 'S256' || expected !== request.codeChallenge) {
          return oauthError(400, 'invalid_grant', 'PKCE verification failed');
        }
      }
      if (body.get('redirect_uri') !== request.redirectUri) {
        return oauthError(400, 'invalid_grant', 'redirect_uri mismatch');
      }
    } else if (grantType === 'refresh_token') {
      const presented = body.get('refresh_token') ?? '';
      const successor = spentRefreshTokens.get(presented);
      if (successor !== undefined) {
        refreshTokens.delete(successor);
        return oauthError(400, 'invalid_grant', 'Maximum allowed refresh token reuse exceeded');
      }
      request = refreshTokens.get(presented);
      if (!request) return oauthError(400, 'invalid_grant', 'unknown refresh token');
    } else {
      return oauthError(400, 'unsupported_grant_type', `grant_type ${grantType} is not supported`);
    }

    const clientId = clientOf(headers, body).id ?? defaultClientId;
    const accessToken = op.issueAccessToken({ sub: request.sub, scope: request.scope, clientId });
    const offline = request.scope.split(' ').includes('offline_access');
    const previous = body.get('refresh_token');
    const refreshToken = offline ? (previous !== null && !op.rotateRefreshTokens ? previous : random()) : undefined;
    if (refreshToken !== undefined) refreshTokens.set(refreshToken, request);
    if (previous !== null && op.rotateRefreshTokens) {
      refreshTokens.delete(previous);
      spentRefreshTokens.set(previous, refreshToken!);
    }
    const ctx: TokenContext = {
      grantType,
      code: grantType === 'authorization_code' ? request.code : '',
      nonce: grantType === 'authorization_code' ? request.nonce : undefined,
      clientId,
      issuer,
      sub: request.sub,
      scope: request.scope,
      alg: op.keys.current.alg,
      accessToken,
      refreshToken,
      authTime: request.authTime,
      authorization: request,
      body,
      headers,
    };
    return tokenHook ? tokenHook(ctx) : op.tokenAnswer(ctx);
  }

  async function userinfo(headers: Record<string, string>): Promise<Answer> {
    const accessToken = /^Bearer (.+)$/i.exec(headers.authorization ?? '')?.[1];
    const sub = accessToken === undefined ? undefined : accessTokens.get(accessToken)?.sub;
    if (userinfoHook) return userinfoHook({ accessToken, sub, headers });
    if (sub === undefined) {
      return {
        status: 401,
        text: '',
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      };
    }
    return { json: { sub } };
  }

  async function introspect(body: URLSearchParams, headers: Record<string, string>): Promise<Answer> {
    op.introspectionRequests++;
    const client = clientOf(headers, body);
    if (!client.id) {
      return { ...oauthError(401, 'invalid_client', 'client authentication required'), headers: { 'www-authenticate': 'Basic realm="hostile"' } };
    }
    const token = body.get('token') ?? '';
    const issued = accessTokens.get(token);
    const answer: Record<string, unknown> =
      issued && issued.exp > now()
        ? { active: true, sub: issued.sub, scope: issued.scope, aud: issued.aud, exp: issued.exp, client_id: issued.clientId, iss: issuer }
        : { active: false };
    const ctx: IntrospectionContext = { token, issued, clientId: client.id, clientSecret: client.secret, answer, body, headers };
    return introspectHook ? introspectHook(ctx) : { json: answer };
  }

  async function route(req: IncomingMessage, headers: Record<string, string>): Promise<Answer> {
    const url = new URL(req.url ?? '/', issuer);
    const method = req.method ?? 'GET';
    const path = url.pathname.startsWith(basePath) ? url.pathname.slice(basePath.length) : url.pathname;
    const intercepted = await interceptHook?.({ method, url, route: path, headers });
    if (intercepted) return intercepted;
    const form = method === 'POST' ? new URLSearchParams(await readBody(req)) : new URLSearchParams();
    switch (path) {
      case '/.well-known/openid-configuration':
        op.discoveryRequests++;
        return { json: op.discovery };
      case '/jwks':
        op.jwksRequests++;
        return { json: { keys: op.keys.published } };
      case '/authorize':
        return authorize(method === 'POST' ? form : url.searchParams);
      case '/token':
        return method === 'POST' ? token(form, headers) : oauthError(405, 'invalid_request', 'POST only');
      case '/userinfo':
        return userinfo(headers);
      case '/introspect':
        return method === 'POST' ? introspect(form, headers) : oauthError(405, 'invalid_request', 'POST only');
      default:
        return oauthError(404, 'not_found', path);
    }
  }

  server.on('request', (req, res) => {
    if (op.down) {
      const answer: Answer =
        op.outage === 503
          ? { status: 503, text: 'Service Unavailable', contentType: 'text/plain' }
          : op.outage === 'hang'
            ? { hang: true }
            : { destroy: true };
      void send(req, res, answer);
      return;
    }
    route(req, flatHeaders(req))
      .then((answer) => send(req, res, answer))
      .catch((err: unknown) =>
        send(req, res, { status: 500, text: `hostile provider: ${String(err)}`, contentType: 'text/plain' }),
      );
  });

  return op;
}
