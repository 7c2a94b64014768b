/**
 * A Koa app with redis sessions and one OpenID provider pointed at a hostile provider, for tests
 * that need to control exactly what the provider answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { isOpenIDError, OpenID, redisSession, type OpenIDOptions, type RedisSessionOptions } from '../../src/index.js';
import { startHostileProvider, type Alg, type HostileProvider } from './hostile-provider.js';
import { Browser } from './http-client.js';
import { redisUrl, uniquePrefix } from './redis.js';

export interface HostileApp {
  base: string;
  app: Koa;
  op: HostileProvider;
  openid: OpenID;
  /** The Redis key prefix of its sessions. */
  prefix: string;
  browser(): Browser;
  /** Login route → hostile authorize → callback → wherever the app sends the browser. */
  login(browser?: Browser, returnTo?: string): Promise<{ status: number; url: string; body: string; browser: Browser }>;
  close(): Promise<void>;
}

export async function startHostileApp(
  options: Partial<OpenIDOptions> = {},
  setup?: (app: Koa, openid: OpenID) => void,
  alg?: Alg,
  sessionOptions: Partial<RedisSessionOptions> = {},
): Promise<HostileApp> {
  const op = await startHostileProvider({ clientId: 'hostile-client', ...(alg ? { alg } : {}) });
  const app = new Koa();
  app.keys = ['test-key'];
  // 5xx answers are Koa error events; Koa's default listener would print each expected one.
  app.silent = true;
  const prefix = uniquePrefix('hostile');
  const sessions = redisSession(app, { redis: redisUrl(), prefix, ...sessionOptions });
  app.use(sessions);
  const openid = new OpenID(app, {
    name: 'hostile',
    clientId: 'hostile-client',
    clientSecret: 'hostile-secret-value-0123456789abcdef',
    configuration: op.discoveryUrl,
    allowInsecureRequests: true,
    jwksCooldown: 0.2,
    ...options,
  });
  setup?.(app, openid);
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    app,
    op,
    openid,
    prefix,
    browser: () => new Browser(),
    async login(browser = new Browser(), returnTo) {
      const query = returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
      const { response, urls } = await browser.follow(`${base}/openid/hostile/login${query}`, { headers: { accept: 'application/json' } });
      return { status: response.status, url: urls.at(-1)!, body: await response.text(), browser };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sessions.close();
      await op.close();
    },
  };
}

/** What the app answered at the end of one login attempt. */
export interface LoginAttempt {
  status: number;
  /** Where the callback redirected to (the login succeeded), else `undefined`. */
  redirectedTo?: string;
  text: string;
  /** The answer parsed as JSON, else `undefined`. */
  body: Record<string, unknown> | undefined;
  browser: Browser;
  /** Milliseconds since `started`. */
  ms: number;
}

/** Reads `response` into a {@link LoginAttempt}; `started` is a `performance.now()` reading. */
export async function readAttempt(response: Response, browser: Browser, started: number, redirectedTo?: string): Promise<LoginAttempt> {
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: response.status, redirectedTo, text, body, browser, ms: performance.now() - started };
}

/** login route → hostile authorize → callback; stops before requesting `returnTo` (`/done`). */
export async function attemptLogin(fx: HostileApp, browser = new Browser()): Promise<LoginAttempt> {
  const started = performance.now();
  const { response, stoppedAt } = await browser.follow(`${fx.base}/openid/hostile/login?returnTo=/done`, {
    stopAt: (u) => u.origin === fx.base && u.pathname === '/done',
  });
  return readAttempt(response, browser, started, stoppedAt?.pathname);
}

/** A `setup` for {@link startHostileApp}: `GET /me` answers `{ login }`, the provider's login in the session or `null`. */
export function showLoginAtMe(app: Koa, openid: OpenID): void {
  const router = new Router();
  router.get('/me', async (ctx) => {
    ctx.body = { login: (await openid.session(ctx)) ?? null };
  });
  app.use(router.routes());
}

/** The login that `GET /me` (see {@link showLoginAtMe}) shows to `browser`. */
export async function sessionLogin(fx: HostileApp, browser: Browser): Promise<{ claims: { sub: string }; scopes: string[] } | null> {
  return ((await (await browser.get(`${fx.base}/me`)).json()) as { login: { claims: { sub: string }; scopes: string[] } | null }).login;
}

/** Middleware: the library errors thrown further down are answered as the provider renders them (the routes of `openid` do this themselves). */
export function renderingErrors(openid: OpenID): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!isOpenIDError(err)) throw err;
      await openid.renderError(ctx, err);
    }
  };
}
