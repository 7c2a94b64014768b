import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type Koa from 'koa';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { debug } from '../debug.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore, type RedisClientLike } from './redis-store.js';
import { ONE_DAY_MS, parseOptions, StoreOptionsSchema, type SessionStore } from './store.js';
import type {} from './context-types.js';
import { answerStoreFailure, failingClearly } from './store-failure.js';
import { cookieHeader } from './cookie.js';
import { HOT, USED } from './fields.js';
import { installSessions, sessionOfContext, usedSession, type SessionConfig } from './request-session.js';

const REDIS_URL = /^rediss?:\/\/./;
/** RFC 6265 §4.1.1 cookie-name (an RFC 7230 token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const hasMethods = (value: unknown, ...names: string[]): boolean =>
  typeof value === 'object' && value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

const REDIS_ERROR = 'must be a redis:// or rediss:// URL or an ioredis client';
const MAX_AGE_ERROR = "must be a positive number of milliseconds or 'session'";
const bool = z.boolean({ error: 'must be true or false' });

/**
 * The options of `redisSession(app, options)`: one schema is the source of the type, the defaults
 * and the setup-time validation (a bad option is a `TypeError` naming it).
 */
export const RedisSessionOptionsSchema = z.strictObject({
  /**
   * Where sessions are kept: a `redis://` or `rediss://` URL (a client is created, and closed by
   * the middleware's `close()`), or an ioredis client, used as it is: never closed, never sent
   * `SELECT` or anything else that changes its state. Default: `process.env.REDIS_URL` when set
   * (and `store` is not given), else an in-memory store for development, which warns.
   */
  redis: z
    .union([
      z.string({ error: REDIS_ERROR }).regex(REDIS_URL, { error: REDIS_ERROR }),
      z.custom<RedisClientLike>((v) => hasMethods(v, 'hmget', 'evalsha', 'eval', 'set'), { error: REDIS_ERROR }),
    ], { error: REDIS_ERROR })
    .optional(),
  /**
   * A store of this library (`new RedisStore(client, { prefix })`, `new MemoryStore()`) instead of
   * `redis`; giving both is an error. koa-session stores (koa-redis) are not taken here: use them
   * with koa-session itself (README, "koa-session and koa-redis").
   */
  store: z
    .custom<SessionStore>((v) => hasMethods(v, 'read', 'change', 'take', 'destroy', 'fieldsWithPrefix', 'indexAdd', 'indexMembers', 'indexRemove', 'claim', 'release'), {
      error: 'must be a RedisStore or MemoryStore (a koa-session store such as koa-redis goes with koa-session itself: app.use(session({ store }, app)))',
    })
    .optional(),
  ...StoreOptionsSchema.shape,
  /**
   * The cookie's name. Default:
   * `'__Host-koa-session-openid'` on https requests, `'koa-session-openid'` on plain http
   * (development). The `__Host-` prefix (RFC 6265bis §4.1.3.2) makes browsers refuse the cookie
   * unless it is Secure, for path `/` and without `Domain`: a sibling subdomain cannot plant (toss)
   * a session on the app's host. A name given here is used as it is on every request.
   */
  key: z.string({ error: 'must be a cookie name' }).regex(COOKIE_NAME, { error: 'must be a cookie name (letters, digits and !#$%&\'*+-.^_`|~)' }).optional(),
  /**
   * How long a session lives after its last write, in milliseconds: the cookie's `Max-Age`, and the
   * stored session's TTL. `'session'`: a browser-session cookie (no `Max-Age`), kept in the store
   * for `sessionTtl`. `ctx.session.maxAge = …` sets it for one session. Default `86400000` (1 day).
   */
  maxAge: z
    .union([
      z.number({ error: MAX_AGE_ERROR }).finite({ error: MAX_AGE_ERROR }).positive({ error: MAX_AGE_ERROR }),
      z.literal('session', { error: MAX_AGE_ERROR }),
    ], { error: MAX_AGE_ERROR })
    .default(ONE_DAY_MS),
  /**
   * The cookie's `SameSite` attribute. `'lax'` sends it on top-level navigations from other sites,
   * which the login callback (a redirect from the provider) needs; `'strict'` would lose the
   * session on that redirect; `'none'` requires Secure. Default `'lax'`.
   */
  sameSite: z.enum(['lax', 'strict', 'none'], { error: "must be 'lax', 'strict' or 'none'" }).default('lax'),
  /**
   * The cookie's `Secure` attribute. Default `undefined`: set exactly when the request is https
   * (`ctx.secure`; behind a TLS-terminating proxy set `app.proxy = true` so `X-Forwarded-Proto`
   * counts). `true` sends it Secure on every request (a browser drops it over plain http).
   */
  secure: bool.optional(),
  /**
   * How long a request waits for the session store before it answers `503 session_unavailable`, in
   * milliseconds: a Redis that is down or stalled costs a request no more than this, whatever the
   * client's own settings.
   * Default `1000`.
   */
  storeTimeout: z.number({ error: 'must be a positive number of milliseconds' }).finite({ error: 'must be a positive number of milliseconds' }).positive({ error: 'must be a positive number of milliseconds' }).default(1000),
  /** The cookie's `HttpOnly` attribute: scripts cannot read the session id. Default `true`. */
  httpOnly: bool.default(true),
  /**
   * Accepted for koa-session compatibility, and not needed: the cookie carries 256 random bits the
   * store checks (README, "Sessions"), so there is nothing to sign and `app.keys` is not used.
   */
  signed: bool.optional(),
  /** Restart the session's lifetime (store TTL and cookie) on every request that uses the session. Default `false`. */
  rolling: bool.default(false),
  /** Restart the session's lifetime when a request uses it and less than half of it is left. Default `false`. */
  renew: bool.default(false),
});

export type RedisSessionOptions = z.input<typeof RedisSessionOptionsSchema>;

/** The session middleware, plus what tests and graceful shutdown need. */
export interface RedisSessionMiddleware extends Koa.Middleware {
  /** The store sessions are kept in. */
  readonly store: SessionStore;
  /**
   * Closes the Redis client that `redisSession` created from a URL (or `REDIS_URL`); does nothing
   * for a client or store that was passed in. Safe to call more than once.
   */
  close(): Promise<void>;
}

const configs = new WeakMap<object, SessionConfig>();

/** The session store of `app` (its session middleware's), or `undefined`. */
export function sessionStoreOf(app: object): SessionStore | undefined {
  return configs.get(app)?.store;
}

/**
 * Tells the app's session middleware that a provider named `name` exists: its login is read along
 * with the app data when a request loads that, saving a round trip for its guard.
 */
export function announceProvider(app: object, name: string): void {
  configs.get(app)?.prefetch.push(HOT + name, USED + name);
}

/**
 * The Redis client made from a URL: it retries a command once over a reconnection and reconnects
 * within half a second once Redis is back. No `commandTimeout`: every store call is bounded by
 * `storeTimeout` already (store-failure.ts), and ioredis's would cost each command a timer of its
 * own (a command waiting for a stalled server stays queued either way, to keep replies in order).
 */
function clientFromUrl(url: string): Redis {
  const client = new Redis(url, {
    connectionName: 'koa-session-openid',
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 500),
    // Commands of concurrent requests issued in one tick share one write (and one read).
    enableAutoPipelining: true,
  });
  client.on('error', (err: Error) => debug('sessions: redis client error: %s', err.message));
  return client;
}

/**
 * Session middleware for Koa, with koa-session's `ctx.session` API: the session in Redis, one hash
 * per session (app data, each provider's login and tokens, pending logins in fields of their own),
 * and only a random id in the browser's cookie. Install it once per app, before the OpenID routes
 * and guards.
 *
 * Lazy: a request reads its session only when something asks (a guard, a login, or `ctx.session`
 * when the session holds app data), and writes only what changed; a request that uses neither
 * costs no Redis call and sets no cookie.
 *
 * @throws TypeError on a bad option (naming it), or when the app already has session middleware.
 */
export function redisSession(app: Koa, options?: RedisSessionOptions): RedisSessionMiddleware {
  if (typeof (app as { use?: unknown } | undefined)?.use !== 'function') {
    throw new TypeError('"app" must be a Koa application');
  }
  const opts = parseOptions(RedisSessionOptionsSchema, options, 'redisSession');
  const given = (name: string) => options !== undefined && (options as Record<string, unknown>)[name] !== undefined;

  if (opts.redis !== undefined && opts.store !== undefined) {
    throw new TypeError('"redis" and "store" cannot both be given: "store" replaces the built-in Redis store');
  }
  if (opts.store !== undefined) {
    for (const name of ['prefix', 'sessionTtl']) {
      if (given(name)) throw new TypeError(`"${name}" applies to the store redisSession creates: pass it to your store instead`);
    }
  }
  if (opts.key !== undefined && !opts.key.startsWith('__Host-') && process.env.NODE_ENV === 'production') {
    process.emitWarning(
      `koa-session-openid: the session cookie "${opts.key}" has no __Host- prefix: a sibling subdomain can plant a session on this host (leave "key" unset for __Host-koa-session-openid on https)`,
      { code: 'KOA_SESSION_OPENID_COOKIE_PREFIX' },
    );
  }
  if (opts.key?.startsWith('__Host-') && opts.secure === false) {
    throw new TypeError('"key" with the __Host- prefix needs Secure cookies (browsers reject it otherwise): do not set "secure" to false');
  }
  if (opts.sameSite === 'none' && opts.secure === false) {
    throw new TypeError('"sameSite" \'none\' needs Secure cookies (browsers reject it otherwise): do not set "secure" to false');
  }
  if (Object.prototype.hasOwnProperty.call(app.context, 'session')) {
    throw new TypeError('this app already has session middleware (ctx.session is defined): use redisSession() once per app');
  }

  let store: SessionStore;
  let owned: Redis | undefined;
  if (opts.store !== undefined) {
    store = opts.store;
    debug('sessions: in the given store');
  } else {
    let redis = opts.redis;
    if (redis === undefined && process.env.REDIS_URL) {
      if (!REDIS_URL.test(process.env.REDIS_URL)) throw new TypeError('"REDIS_URL" must be a redis:// or rediss:// URL');
      redis = process.env.REDIS_URL;
    }
    if (typeof redis === 'string') {
      redis = owned = clientFromUrl(redis);
      debug('sessions: in Redis (own client from a URL)');
    } else if (redis !== undefined) {
      debug('sessions: in Redis (the given client)');
    }
    store = redis === undefined
      ? new MemoryStore({ sessionTtl: opts.sessionTtl })
      : new RedisStore(redis, { prefix: opts.prefix, sessionTtl: opts.sessionTtl });
  }

  const cfg: SessionConfig = {
    store: failingClearly(store, opts.storeTimeout),
    ...(opts.key !== undefined ? { key: opts.key } : {}),
    maxAge: opts.maxAge,
    sessionTtl: (store as { sessionTtl?: number }).sessionTtl ?? opts.sessionTtl,
    httpOnly: opts.httpOnly,
    sameSite: opts.sameSite,
    ...(opts.secure !== undefined ? { secure: opts.secure } : {}),
    rolling: opts.rolling,
    renew: opts.renew,
    prefetch: [],
  };
  configs.set(app, cfg);
  installSessions(app.context, cfg);
  Object.defineProperty(app.context, 'session', {
    configurable: true,
    get(this: Koa.Context) {
      return sessionOfContext(this)?.session;
    },
    set(this: Koa.Context, value: Record<string, unknown> | null) {
      sessionOfContext(this)!.session = value;
    },
  });

  // Whether a request's cookie may say "app data" (checked properly once the session is made); the
  // default names both end in "koa-session-openid".
  const marker = `${opts.key ?? 'koa-session-openid'}=d`;
  const failed = (ctx: Koa.Context, err: unknown) => {
    if (!answerStoreFailure(ctx, err)) throw err;
  };
  const finish = (ctx: Koa.Context) => {
    const rs = usedSession(ctx);
    return rs?.pending ? rs.commit().catch((err: unknown) => failed(ctx, err)) : undefined;
  };
  const middleware: Koa.Middleware = (ctx, next) => {
    const cookie = cookieHeader(ctx.req);
    if (cookie !== undefined && cookie.includes(marker)) {
      const rs = sessionOfContext(ctx)!;
      if (rs.hasData) return rs.preload().then(() => next()).then(() => finish(ctx), (err: unknown) => failed(ctx, err));
    }
    return next().then(() => finish(ctx), (err: unknown) => failed(ctx, err));
  };

  let closing: Promise<void> | undefined;
  return Object.assign(middleware, {
    store,
    close(): Promise<void> {
      if (!owned) return Promise.resolve();
      const client = owned;
      closing ??= (async () => {
        if (client.status !== 'ready') {
          client.disconnect(); // not connected: nothing in flight, and no 'end' event to wait for
          return;
        }
        // QUIT lets replies still in flight arrive first; resolve once the socket is closed
        const ended = once(client, 'end');
        await client.quit().catch(() => client.disconnect());
        await Promise.race([ended, setTimeout(1000, undefined, { ref: false })]);
      })();
      return closing;
    },
  });
}
