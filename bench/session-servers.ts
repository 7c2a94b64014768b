/**
 * One session-bench server per child process (started by bench/sessions.ts, pinned to core 1):
 * the scenario comes as argv[2]. It listens on 127.0.0.1 at once and sends `{ port }` over IPC
 * (the provider's redirect URIs need the port); the parent then sends `{ config }`, the app is
 * built and `{ ready: true }` (or `{ error }`) comes back. `'gc'` runs a full garbage collection
 * (with --expose-gc) and answers `{ collected: true }`. `'stop'` or a lost parent ends it.
 *
 *   L   the library: Koa 3, redisSession(app, { redis }), one OpenID provider, GET /me guarded by
 *       provider.required() answering ctx.state.user as JSON
 *   L2  the same with two providers, plus GET /public that touches no session
 *   E   express-openid-connect 3 on Express 5, sessions in connect-redis 8 over ioredis 6 (the
 *       library's client too) on the same Redis, GET /me with requiresAuth() answering
 *       req.oidc.user as JSON. connect-redis 7 loses every session under express-openid-connect 3
 *       (its `get(sid, cb = noop)` has length 1, so express-openid-connect takes it for a promise
 *       API and reads `undefined`); 9 and 10 need node-redis 5 (10 also Node 22).
 *   H   a minimal hand-written openid-client 6 login on Koa doing the same checks as the library's:
 *       state, nonce and PKCE kept in Redis (ioredis, auto-pipelined) under a random cookie, the
 *       code grant with openid-client (ID token claims, nonce), the ID token's signature with jose
 *       over the provider's JWKS (openid-client 6 does not verify it), the session in Redis;
 *       GET /me answers its claims or redirects to /login (the login bench's peer)
 *   K   bare Koa: ctx.body = 'hello' for every request
 *   K2  the L2 app's routing without the library: GET /public answers 'hello'
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { ConfigParams } from 'express-openid-connect';

export type SessionScenario = 'L' | 'L2' | 'E' | 'H' | 'K' | 'K2';

export interface ProviderConfig {
  /** The provider's route and session name (`/openid/<name>/...`). */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface ServerConfig {
  redisUrl: string;
  /** Signs the cookies (app.keys, express-openid-connect's `secret`). */
  secret: string;
  scopes: string[];
  resource: string;
  /** L: one, L2: two; E uses the first. */
  providers: ProviderConfig[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// Each scenario imports only what it runs: the Koa servers never load Express or the library.
async function libraryApp(cfg: ServerConfig, baseUrl: string, withPublic: boolean): Promise<Handler> {
  const { OpenID, redisSession } = await import('../src/index.js');
  const app = new Koa();
  app.keys = [cfg.secret];
  app.use(redisSession(app, { redis: cfg.redisUrl }));
  const providers = cfg.providers.map(
    (p) =>
      new OpenID(app, {
        name: p.name,
        clientId: p.clientId,
        clientSecret: p.clientSecret,
        configuration: `${p.issuer}/.well-known/openid-configuration`,
        baseUrl,
        allowInsecureRequests: true,
        scopes: cfg.scopes,
        authorizationParams: { resource: cfg.resource },
      }),
  );
  const guard = providers[0]!.required();
  app.use(async (ctx, next) => {
    if (withPublic && ctx.path === '/public') {
      ctx.body = 'hello';
      return undefined;
    }
    if (ctx.path === '/me') {
      return guard(ctx, async () => {
        ctx.body = ctx.state.user;
      });
    }
    return next();
  });
  await Promise.all(providers.map((p) => p.ready()));
  return app.callback();
}

async function expressApp(cfg: ServerConfig, baseUrl: string): Promise<Handler> {
  const { default: express } = await import('express');
  // CommonJS without named ESM exports: its functions hang off the default export.
  const { default: eoc } = await import('express-openid-connect');
  const { RedisStore } = await import('connect-redis');
  const { Redis } = await import('ioredis');
  const p = cfg.providers[0]!;
  const client = new Redis(cfg.redisUrl, { connectionName: 'bench-express' });
  client.on('error', (err: Error) => console.error(`E: redis: ${err.message}`));
  await client.ping();
  const app = express();
  app.use(
    eoc.auth({
      authRequired: false,
      idpLogout: false,
      issuerBaseURL: p.issuer,
      baseURL: baseUrl,
      clientID: p.clientId,
      clientSecret: p.clientSecret,
      secret: cfg.secret,
      authorizationParams: { response_type: 'code', scope: cfg.scopes.join(' '), resource: cfg.resource },
      // connect-redis's store is an express-session Store; express-openid-connect asks for get/set/destroy only.
      session: { store: new RedisStore({ client }) as unknown as NonNullable<ConfigParams['session']>['store'] },
    }),
  );
  app.get('/me', eoc.requiresAuth(), (req, res) => {
    res.json(req.oidc.user);
  });
  return app;
}

async function handWrittenApp(cfg: ServerConfig, baseUrl: string): Promise<Handler> {
  const client = await import('openid-client');
  const jose = await import('jose');
  const { randomBytes } = await import('node:crypto');
  const { Redis } = await import('ioredis');
  const p = cfg.providers[0]!;
  const config = await client.discovery(new URL(p.issuer), p.clientId, p.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
  const issuer = config.serverMetadata().issuer;
  const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
  const redis = new Redis(cfg.redisUrl, { connectionName: 'bench-hand-written', enableAutoPipelining: true });
  const redirectUri = `${baseUrl}/callback`;
  const cookie = { httpOnly: true, sameSite: 'lax' as const, signed: false };
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.path === '/me') {
      const sid = ctx.cookies.get('sid');
      const stored = sid ? await redis.get(`hand:sess:${sid}`) : null;
      if (stored) ctx.body = (JSON.parse(stored) as { claims: unknown }).claims;
      else ctx.redirect('/login');
    } else if (ctx.path === '/login') {
      const state = client.randomState();
      const nonce = client.randomNonce();
      const verifier = client.randomPKCECodeVerifier();
      const tx = randomBytes(16).toString('base64url');
      await redis.set(`hand:tx:${tx}`, JSON.stringify({ state, nonce, verifier }), 'PX', 600_000);
      ctx.cookies.set('tx', tx, cookie);
      ctx.redirect(
        client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: cfg.scopes.join(' '),
          resource: cfg.resource,
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        }).href,
      );
    } else if (ctx.path === '/callback') {
      const tx = ctx.cookies.get('tx');
      const raw = tx ? await redis.getdel(`hand:tx:${tx}`) : null;
      if (!raw) {
        ctx.status = 400;
        return;
      }
      const { state, nonce, verifier } = JSON.parse(raw) as { state: string; nonce: string; verifier: string };
      const tokens = await client.authorizationCodeGrant(config, new URL(ctx.href), {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
      const { payload } = await jose.jwtVerify(tokens.id_token!, jwks, { issuer, audience: p.clientId, algorithms: ['RS256'] });
      const sid = randomBytes(16).toString('base64url');
      const session = { claims: payload, tokens: { access: tokens.access_token, refresh: tokens.refresh_token, id: tokens.id_token } };
      await redis.set(`hand:sess:${sid}`, JSON.stringify(session), 'PX', 86_400_000);
      ctx.cookies.set('tx', null);
      ctx.cookies.set('sid', sid, cookie);
      ctx.redirect('/me');
    } else {
      ctx.status = 404;
    }
  });
  return app.callback();
}

function koaHello(onlyPublic: boolean): Handler {
  const app = new Koa();
  app.use(async (ctx, next) => {
    if (!onlyPublic || ctx.path === '/public') {
      ctx.body = 'hello';
      return undefined;
    }
    return next();
  });
  return app.callback();
}

async function build(scenario: SessionScenario, cfg: ServerConfig, baseUrl: string): Promise<Handler> {
  switch (scenario) {
    case 'L':
      return libraryApp({ ...cfg, providers: cfg.providers.slice(0, 1) }, baseUrl, false);
    case 'L2':
      return libraryApp(cfg, baseUrl, true);
    case 'E':
      return expressApp(cfg, baseUrl);
    case 'H':
      return handWrittenApp(cfg, baseUrl);
    case 'K':
      return koaHello(false);
    case 'K2':
      return koaHello(true);
    default:
      throw new Error(`unknown scenario ${JSON.stringify(scenario)}`);
  }
}

async function main(): Promise<void> {
  const scenario = process.argv[2] as SessionScenario;
  let handler: Handler | undefined;
  const server = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.statusCode = 503;
    res.end('starting');
    return undefined;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: 'stop' | 'gc' | { config: ServerConfig }) => {
    if (msg === 'stop') process.exit(0);
    if (msg === 'gc') {
      // Only with --expose-gc (the memory run): a full collection before the parent reads RSS.
      (globalThis as { gc?: () => void }).gc?.();
      process.send!({ collected: true });
      return;
    }
    if (typeof msg === 'object' && msg.config) {
      build(scenario, msg.config, `http://127.0.0.1:${port}`).then(
        (h) => {
          handler = h;
          process.send!({ ready: true });
        },
        (err: Error) => {
          process.send!({ error: `${scenario}: ${err.stack ?? err.message}` });
        },
      );
    }
  });
  process.send!({ port });
}

await main();
