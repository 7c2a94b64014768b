/**
 * A real `oidc-provider` (the devDependency) run in-process for the example tests, without the
 * library's own development provider: no login or consent page (every interaction finishes at once
 * for the account the test chose with `signInAs()`, and consent grants what the request is
 * missing, recorded in `consents`), an in-memory store, and a fresh RS256 signing key.
 *
 * `issuer` may have a path (`http://127.0.0.1:PORT/<tenant>/v2.0`): `handle` then serves requests
 * under that path, with the path taken off as oidc-provider expects of a mounted provider.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The parts of oidc-provider's `Provider` the tests use (the package ships no type declarations). */
export interface OidcProvider extends Koa {
  readonly issuer: string;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{
    prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
    params: Record<string, string>;
    session?: { accountId: string };
    grantId?: string;
  }>;
  interactionResult(req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  Grant: {
    new (init: { accountId: string; clientId: string }): OidcGrant;
    find(id: string): Promise<OidcGrant | undefined>;
  };
  AuthorizationCode: { find(code: string): Promise<object | undefined> };
  RefreshToken: { find(token: string): Promise<object | undefined> };
  Client: { find(id: string): Promise<{ backchannelLogout(sub: string, sid: string): Promise<void> } | undefined> };
}

interface OidcGrant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}

type Module = { default: new (issuer: string, configuration: object) => OidcProvider; errors: { InvalidTarget: new (description?: string) => Error } };

/** Runs `fn` without oidc-provider's development notices ("Unsupported runtime" on Node 20, in-memory adapter). */
async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const { warn } = console;
  console.warn = () => {};
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

// @ts-ignore -- oidc-provider ships no type declarations: OidcProvider above describes what is used.
const { default: Provider, errors } = (await quietly(() => import('oidc-provider'))) as Module;

/** oidc-provider's error classes, for configuration hooks (`InvalidTarget`). */
export const oidcErrors = errors;

export interface InProcessProviderOptions {
  issuer: string;
  /** Client metadata as oidc-provider takes it. */
  clients: Record<string, unknown>[];
  /** accountId → the account's claims (besides `sub`, which is the account id). */
  accounts: Record<string, Record<string, unknown>>;
  /** Scope → the claims it releases. Default: `profile` (name, preferred_username), `email`. */
  claims?: Record<string, string[]>;
  /** Anything else of oidc-provider's configuration (merged over the defaults here; `features` one by one). */
  configuration?: Record<string, unknown>;
}

export interface InProcessProvider {
  issuer: string;
  provider: OidcProvider;
  /** The public signing keys (as its JWKS endpoint publishes them). */
  publicKeys: JWK[];
  /** Serves a request under the issuer's path. */
  handle: Handler;
  /** The account the next login interaction logs in. */
  signInAs(accountId: string): void;
  /** The scopes each consent interaction was asked to add, in order. */
  consents: string[][];
}

export async function createProvider(opts: InProcessProviderOptions): Promise<InProcessProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const signing = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicKeys = [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }];
  const mount = new URL(opts.issuer).pathname.replace(/\/$/, '');
  const { features, ...configuration } = opts.configuration ?? {};
  let accountId: string | undefined;
  const consents: string[][] = [];

  const provider = await quietly(
    () =>
      new Provider(opts.issuer, {
        clients: opts.clients,
        jwks: { keys: [signing] },
        // Several providers on one origin: cookie names of their own.
        cookies: { keys: ['example-tests-cookie-key'], names: { session: `_s${kid}`, interaction: `_i${kid}`, resume: `_r${kid}` } },
        async findAccount(_ctx: unknown, sub: string) {
          const claims = opts.accounts[sub];
          return claims && { accountId: sub, claims: async () => ({ ...claims, sub }) };
        },
        scopes: ['openid', 'profile', 'email', 'offline_access'],
        claims: opts.claims ?? { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
        features: { devInteractions: { enabled: false }, ...(features as object | undefined) },
        ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600, RefreshToken: 86400 },
        interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${mount}/interaction/${interaction.uid}` },
        async renderError(ctx: Koa.Context, out: Record<string, string>) {
          ctx.type = 'json';
          ctx.body = out;
        },
        ...configuration,
      }),
  );

  // No pages: a login finishes for the chosen account, a consent grants what is missing.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith('/interaction/')) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result: object;
    if (details.prompt.name === 'login') {
      if (!accountId) ctx.throw(500, 'test provider: call signInAs() first');
      result = { login: { accountId } };
    } else if (details.prompt.name === 'consent') {
      const missing = details.prompt.details;
      const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id! });
      const asked: string[] = [];
      if (missing.missingOIDCScope) {
        grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        asked.push(...missing.missingOIDCScope);
      }
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
        asked.push(...scopes);
      }
      consents.push(asked);
      result = { consent: { grantId: await grant.save() } };
    } else {
      return ctx.throw(500, `test provider: prompt ${details.prompt.name}`);
    }
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: details.prompt.name === 'consent' }));
    return undefined;
  });

  // Composed at the first request: middleware added with `provider.use()` until then counts.
  let callback: Handler | undefined;
  const handle: Handler = (req, res) => {
    if (mount && !req.url!.startsWith(`${mount}/`)) return void res.writeHead(404).end();
    callback ??= provider.callback();
    // A mounted provider sees its own paths; `originalUrl` tells it where it is mounted.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
    req.url = req.url!.slice(mount.length) || '/';
    callback(req, res);
  };
  return { issuer: opts.issuer, provider, publicKeys, handle, signInAs: (id) => void (accountId = id), consents };
}

/** An http server on a free port of 127.0.0.1 whose handler is set later (issuers and redirect URIs need the port first). */
export async function listen(): Promise<{ origin: string; setHandler(handler: Handler): void; close(): Promise<void> }> {
  let handler: Handler | undefined;
  const server = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setHandler: (h) => void (handler = h),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A provider at the root of its own server (issuer `http://127.0.0.1:PORT`). */
export async function startProvider(opts: Omit<InProcessProviderOptions, 'issuer'>): Promise<InProcessProvider & { close(): Promise<void> }> {
  const server = await listen();
  const op = await createProvider({ ...opts, issuer: server.origin });
  server.setHandler(op.handle);
  return { ...op, close: server.close };
}
