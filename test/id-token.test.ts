/**
 * ID token checks through the whole login (app login route → hostile authorize → app callback),
 * against a real HTTP server: every forged ID token is refused with 400 `invalid_id_token`, the
 * answer carries no token, and nothing of the login reaches the session.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import Router from '@koa/router';
import { generateKeyPair } from 'jose';
import Koa from 'koa';
import session from 'koa-session';

import { OpenID } from '../src/openid.js';
import type { OpenIDOptions } from '../src/options.js';
import {
  startHostileProvider,
  tamperSignature,
  validIdTokenClaims,
  type HostileProvider,
  type TokenContext,
} from './support/hostile-provider.js';
import { Browser } from './support/http-client.js';

// ---------------------------------------------------------------------------------------------
// Relying party under test (the same helper lives in callback-hostile.test.ts; move it to
// test/support/ once that is allowed).

const CLIENT_ID = 'app';
const CLIENT_SECRET = 'app-client-secret-0123456789abcdef0123456789abcdef';
const NAME = 'hostile';

interface LoginOutcome {
  status: number;
  /** The path the callback redirected to (the login succeeded), else `undefined`. */
  redirectedTo?: string;
  text: string;
  body: Record<string, unknown> | undefined;
  browser: Browser;
  ms: number;
}

interface RelyingParty {
  base: string;
  openid: OpenID;
  /** login route → hostile authorize → callback; stops before requesting `returnTo` (`/done`). */
  login(browser?: Browser): Promise<LoginOutcome>;
  /** This provider's login as `provider.session(ctx)` sees it in the browser's session. */
  sessionLogin(browser: Browser): Promise<{ claims: { sub: string } } | null>;
  /** Every session value in the store, serialized. */
  storedSessions(): Promise<string[]>;
  close(): Promise<void>;
}

interface SessionLayer {
  middleware: Koa.Middleware;
  dump(): Promise<string[]>;
  close(): Promise<void>;
}

let warnedFallback = false;

function isMissingModule(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ERR_MODULE_NOT_FOUND';
}

/** redisSession when src/session exists, else koa-session over an in-memory (JSON) store. */
async function sessionLayer(app: Koa): Promise<SessionLayer> {
  const lib = await import('../src/session/index.js' as string).catch((err: unknown) => {
    if (isMissingModule(err)) return undefined;
    throw err;
  });
  if (typeof lib?.redisSession === 'function') {
    const support = await import('./support/redis.js' as string).catch((err: unknown) => {
      if (isMissingModule(err)) return undefined;
      throw err;
    });
    const url: string = support?.redisUrl?.() ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6391';
    const prefix: string = support?.uniquePrefix?.('id-token') ?? `test:id-token:${process.pid}:${Date.now()}:`;
    const middleware = lib.redisSession(app, { redis: url, prefix });
    const { Redis } = await import('ioredis');
    const redis = new Redis(url);
    return {
      middleware,
      async dump() {
        const keys = await redis.keys(`${prefix}*`);
        return keys.length ? ((await redis.mget(keys)).filter(Boolean) as string[]) : [];
      },
      async close() {
        redis.disconnect();
        await middleware.close?.();
      },
    };
  }
  if (!warnedFallback) {
    warnedFallback = true;
    console.error('# src/session not available yet: using koa-session with an in-memory store');
  }
  const store = new Map<string, string>();
  const middleware = session(
    {
      key: 'rp.sid',
      store: {
        get: (key: string) => (store.has(key) ? JSON.parse(store.get(key)!) : undefined),
        set: (key: string, value: unknown) => void store.set(key, JSON.stringify(value)),
        destroy: (key: string) => void store.delete(key),
      },
    } as Parameters<typeof session>[0],
    app,
  );
  return { middleware, dump: async () => [...store.values()], close: async () => {} };
}

async function startRelyingParty(op: HostileProvider, options: Partial<OpenIDOptions> = {}): Promise<RelyingParty> {
  const app = new Koa();
  app.keys = ['rp-test-key'];
  const sessions = await sessionLayer(app);
  app.use(sessions.middleware);
  const openid = new OpenID(app, {
    name: NAME,
    configuration: op.discoveryUrl,
    allowInsecureRequests: true,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    scopes: ['openid'],
    jwksCooldown: 0.3,
    ...options,
  });
  const router = new Router();
  router.get('/me', (ctx) => {
    ctx.body = { login: openid.session(ctx) ?? null };
  });
  router.get('/done', (ctx) => {
    ctx.body = 'done';
  });
  app.use(router.routes());
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    openid,
    async login(browser = new Browser()) {
      const started = performance.now();
      const { response, stoppedAt } = await browser.follow(`${base}/openid/${NAME}/login?returnTo=/done`, {
        stopAt: (u) => u.origin === base && u.pathname === '/done',
      });
      const ms = performance.now() - started;
      const text = await response.text();
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      return { status: response.status, redirectedTo: stoppedAt?.pathname, text, body, browser, ms };
    },
    async sessionLogin(browser) {
      return ((await (await browser.get(`${base}/me`)).json()) as { login: { claims: { sub: string } } | null }).login;
    },
    storedSessions: () => sessions.dump(),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sessions.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

const now = () => Math.floor(Date.now() / 1000);
const without = (claims: Record<string, unknown>, ...names: string[]) =>
  Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));

describe('ID tokens at the callback', () => {
  let op: HostileProvider;
  let rp: RelyingParty;
  /** What the token endpoint sent last: the response body must not echo any of it. */
  let sent: { accessToken: string; idToken: string | null };

  before(async () => {
    op = await startHostileProvider({ clientId: CLIENT_ID });
    rp = await startRelyingParty(op);
  });
  after(async () => {
    await rp.close();
    await op.close();
  });

  /** The token endpoint answers with the ID token `make` builds (a string as is, `null`: none). */
  function answerWith(make: (ctx: TokenContext) => Promise<string | null> | string | null) {
    op.onToken(async (ctx) => {
      const idToken = await make(ctx);
      sent = { accessToken: ctx.accessToken, idToken };
      return op.tokenAnswer(ctx, idToken);
    });
  }

  function assertNoTokenIn(text: string) {
    assert.ok(!text.includes(sent.accessToken), 'the answer contains the access token');
    assert.ok(!text.includes(CLIENT_SECRET), 'the answer contains the client secret');
    if (sent.idToken) {
      for (const part of sent.idToken.split('.').filter((p) => p.length >= 8)) {
        assert.ok(!text.includes(part), 'the answer contains (part of) the ID token');
      }
    }
  }

  async function assertNothingStored(browser: Browser) {
    assert.equal(await rp.sessionLogin(browser), null, 'the login was stored in the session');
    for (const value of await rp.storedSessions()) assertNoTokenIn(value);
  }

  test('a valid login succeeds: 302 to returnTo, the session holds the login', async () => {
    answerWith(async (ctx) => op.sign(validIdTokenClaims(ctx)));
    const res = await rp.login();
    assert.equal(res.status, 302, res.text);
    assert.equal(res.redirectedTo, '/done');
    const login = await rp.sessionLogin(res.browser);
    assert.equal(login?.claims.sub, 'alice');
    // The tokens are on the server side only.
    assert.ok((await rp.storedSessions()).some((v) => v.includes(sent.accessToken)));
    assert.ok(!res.browser.cookieHeader(rp.base).includes(sent.accessToken));
  });

  const forged: Array<[string, (ctx: TokenContext) => Promise<string | null> | string | null]> = [
    ['a bad signature', async (ctx) => tamperSignature(await op.sign(validIdTokenClaims(ctx)))],
    ['alg "none" (unsigned)', (ctx) => op.sign(validIdTokenClaims(ctx), { alg: 'none' })],
    [
      'HS256 signed with the client secret (key confusion)',
      (ctx) => op.sign(validIdTokenClaims(ctx), { alg: 'HS256' }, new TextEncoder().encode(CLIENT_SECRET)),
    ],
    ['another "iss"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), iss: 'https://evil.example' })],
    ['no "iss"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'iss'))],
    ['another "aud"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), aud: 'someone-else' })],
    ['no "aud"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'aud'))],
    ['several audiences without "azp"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), aud: [CLIENT_ID, 'other'] })],
    ['"azp" of another client', (ctx) => op.sign({ ...validIdTokenClaims(ctx), aud: [CLIENT_ID, 'other'], azp: 'other' })],
    ['"azp" of another client, one audience', (ctx) => op.sign({ ...validIdTokenClaims(ctx), azp: 'other' })],
    ['an expired "exp"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), iat: now() - 7200, exp: now() - 3600 })],
    ['no "exp"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'exp'))],
    ['"exp" as a string', (ctx) => op.sign({ ...validIdTokenClaims(ctx), exp: String(now() + 300) })],
    ['no "iat"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'iat'))],
    ['no "sub"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'sub'))],
    ['an empty "sub"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), sub: '' })],
    ['another "nonce"', (ctx) => op.sign({ ...validIdTokenClaims(ctx), nonce: 'not-the-nonce-of-this-login' })],
    ['no "nonce"', (ctx) => op.sign(without(validIdTokenClaims(ctx), 'nonce'))],
    ['"nbf" in the future', (ctx) => op.sign({ ...validIdTokenClaims(ctx), nbf: now() + 3600 })],
    [
      'a signature by an unknown key with a known "kid"',
      async (ctx) => {
        const { privateKey } = await generateKeyPair('RS256');
        return op.sign(validIdTokenClaims(ctx), { kid: op.keys.current.kid }, privateKey);
      },
    ],
    ['a payload that is not JSON', () => op.sign('not json')],
    ['no "id_token" at all', () => null],
  ];

  for (const [what, make] of forged) {
    test(`an ID token with ${what} is refused: 400 invalid_id_token, no token, nothing stored`, async () => {
      answerWith(make);
      const res = await rp.login();
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body?.error, 'invalid_id_token', res.text);
      assertNoTokenIn(res.text);
      await assertNothingStored(res.browser);
    });
  }

  test('a refused login leaves the previous login of the session in place', async () => {
    answerWith((ctx) => op.sign(validIdTokenClaims(ctx)));
    const browser = new Browser();
    assert.equal((await rp.login(browser)).status, 302);
    op.subject = 'mallory';
    try {
      answerWith(async (ctx) => tamperSignature(await op.sign(validIdTokenClaims(ctx))));
      const res = await rp.login(browser);
      assert.equal(res.status, 400);
      assert.equal((await rp.sessionLogin(browser))?.claims.sub, 'alice');
    } finally {
      op.subject = 'alice';
    }
  });
});
