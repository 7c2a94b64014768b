/**
 * A Koa app with redis sessions and one embedded oidc-provider per OpenID provider, for tests.
 * The http server composes the app lazily, so routes added after start() still count.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { startDevProvider, type ClientMetadata, type DevProvider, type DevProviderOptions } from '../../src/dev-provider/index.js';
import { OpenID, redisSession, type OpenIDOptions } from '../../src/index.js';
import { Browser } from './http-client.js';
import { redisUrl, uniquePrefix } from './redis.js';

export interface FixtureProvider {
  name: string;
  /** Client registration overrides (e.g. token_endpoint_auth_method). */
  client?: Partial<ClientMetadata>;
  /** OpenID option overrides. */
  options?: Partial<OpenIDOptions>;
  /** Dev provider option overrides. */
  dev?: Partial<DevProviderOptions>;
}

export interface Fixture {
  base: string;
  app: Koa;
  redis: Redis;
  prefix: string;
  ops: Record<string, DevProvider>;
  openid: Record<string, OpenID>;
  browser(): Browser;
  /** Session keys currently in Redis for this fixture (not the login index). */
  sessionKeys(): Promise<string[]>;
  /** The Redis key of the session a cookie value names. */
  sessionKey(cookie: string): string;
  /** The stored fields of the session a cookie value names. */
  stored(cookie: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** Session middleware of the test's own (default: redisSession on the test Redis, under `prefix`). */
  sessions?: (app: Koa, prefix: string) => Koa.Middleware & { close?(): Promise<void> };
}

export async function startFixture(
  providers: FixtureProvider[],
  setup?: (app: Koa, openid: Record<string, OpenID>) => void,
  options: FixtureOptions = {},
): Promise<Fixture> {
  const app = new Koa();
  app.keys = ['test-key-1'];
  // 5xx answers are Koa error events; Koa's default listener would print each expected one.
  app.silent = true;
  const prefix = uniquePrefix('openid');
  const sessions = options.sessions ? options.sessions(app, prefix) : redisSession(app, { redis: redisUrl(), prefix });
  app.use(sessions);
  let handler: ReturnType<Koa['callback']> | undefined;
  const server: Server = createServer((req, res) => (handler ??= app.callback())(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ops: Record<string, DevProvider> = {};
  const openid: Record<string, OpenID> = {};
  for (const p of providers) {
    ops[p.name] = await startDevProvider({
      clients: [
        {
          client_id: `${p.name}-app`,
          client_secret: `${p.name}-secret-value`,
          redirect_uris: [`${base}/openid/${p.name}/auth`],
          grant_types: ['authorization_code', 'refresh_token'],
          ...p.client,
        },
      ],
      ...p.dev,
    });
    openid[p.name] = new OpenID(app, {
      name: p.name,
      clientId: `${p.name}-app`,
      clientSecret: `${p.name}-secret-value`,
      configuration: `${ops[p.name]!.issuer}/.well-known/openid-configuration`,
      allowInsecureRequests: true,
      scopes: ['openid', 'profile'],
      ...p.options,
    });
  }
  setup?.(app, openid);
  const redis = new Redis(redisUrl());
  return {
    base,
    app,
    redis,
    prefix,
    ops,
    openid,
    browser: () => new Browser(),
    sessionKeys: async () => (await redis.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}idx:`)),
    sessionKey: (cookie) => prefix + cookie.slice(1, 23),
    stored: (cookie) => redis.hgetall(prefix + cookie.slice(1, 23)),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await Promise.all(Object.values(ops).map((op) => op.close()));
      redis.disconnect();
      await (sessions as unknown as { close?: () => Promise<void> }).close?.();
    },
  };
}

/** Runs a whole login through the non-interactive provider; returns where the browser landed. */
export async function login(browser: Browser, fx: Fixture, name: string, returnTo?: string): Promise<{ status: number; url: string; body: string }> {
  const query = returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
  const { response, urls } = await browser.follow(`${fx.base}/openid/${name}/login${query}`);
  return { status: response.status, url: urls.at(-1)!, body: await response.text() };
}
