import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type Koa from 'koa';
import { Redis } from 'ioredis';
import createSession, { type CreateSessionOptions } from 'koa-session';
import { z } from 'zod';
import { debug } from '../debug.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore, type RedisClientLike } from './redis-store.js';
import { ONE_DAY_MS, parseOptions, StoreOptionsSchema, type SessionStore } from './store.js';
import type {} from './context-types.js';
import { answeringStoreFailures, failingClearly } from './store-failure.js';

const REDIS_URL = /^rediss?:\/\/./;
/** The default cookie names: plain on http (development), `__Host-` prefixed whenever it is Secure. */
const COOKIE_HTTP = 'koa-session-openid';
const COOKIE_HTTPS = '__Host-koa-session-openid';
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
      z.custom<RedisClientLike>((v) => hasMethods(v, 'get', 'set', 'del'), { error: REDIS_ERROR }),
    ], { error: REDIS_ERROR })
    .optional(),
  /**
   * Any koa-session 7 store (`get`, `set`, `destroy`), used instead of `redis`; giving both is an
   * error. koa-redis 4 works with a numeric `maxAge` only: it cannot store `maxAge: 'session'`.
   * `prefix` and `sessionTtl` belong to the built-in stores: configure your store instead.
   */
  store: z
    .custom<SessionStore | KoaRedisTyped>((v) => hasMethods(v, 'get', 'set', 'destroy'), {
      error: 'must be a koa-session store (an object with get, set and destroy methods)',
    })
    .optional(),
  ...StoreOptionsSchema.shape,
  /**
   * The cookie's name; a second cookie `<key>.sig` carries its signature. Default:
   * `'__Host-koa-session-openid'` on https requests, `'koa-session-openid'` on plain http
   * (development). The `__Host-` prefix (RFC 6265bis §4.1.3.2) makes browsers refuse the cookie
   * unless it is Secure, for path `/` and without `Domain`: a sibling subdomain cannot plant (toss)
   * a session on the app's host. A name given here is used as it is on every request.
   */
  key: z.string({ error: 'must be a cookie name' }).regex(COOKIE_NAME, { error: 'must be a cookie name (letters, digits and !#$%&\'*+-.^_`|~)' }).optional(),
  /**
   * How long a session lives after its last write, in milliseconds: the cookie's `Max-Age`, and the
   * stored copy's TTL (plus 10 s). `'session'`: a browser-session cookie (no `Max-Age`), kept in the
   * store for `sessionTtl`. Default `86400000` (1 day).
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
   * counts). `true` on a request Koa sees as http makes the cookies module throw ("Cannot send secure
   * cookie over unencrypted connection"), so with a proxy set `app.proxy` rather than this.
   */
  secure: bool.optional(),
  /**
   * How long a request waits for the session store before it answers `503 session_unavailable`, in
   * milliseconds: a Redis that is down or stalled costs a request no more than this, whatever the
   * client's own settings (a client created from a URL also gets it as its `commandTimeout`).
   * Default `1000`.
   */
  storeTimeout: z.number({ error: 'must be a positive number of milliseconds' }).finite({ error: 'must be a positive number of milliseconds' }).positive({ error: 'must be a positive number of milliseconds' }).default(1000),
  /** The cookie's `HttpOnly` attribute: scripts cannot read the session id. Default `true`. */
  httpOnly: bool.default(true),
  /** Sign the cookie with `app.keys` (a forged or tampered session id is ignored). Default `true`. */
  signed: bool.default(true),
  /** Save the session and reset the cookie's expiry on every response, changed or not. Default `false`. */
  rolling: bool.default(false),
  /** Save the session again when less than half of its `maxAge` is left. Default `false`. */
  renew: bool.default(false),
});

export type RedisSessionOptions = z.input<typeof RedisSessionOptionsSchema>;

/**
 * A koa-redis store as `@types/koa-redis` types it. Those types extend koa-session 6's `stores`,
 * which koa-session 7 no longer exports, so under koa-session 7 the store keeps only its `client`
 * and its methods vanish from the type. It is accepted as it is (no cast needed); its `get`, `set`
 * and `destroy` are checked when `redisSession` is called.
 */
export interface KoaRedisTyped {
  readonly client: unknown;
}

/**
 * koa-session's `save()` turns `maxAge: 'session'` into `undefined` on the request's options, so a
 * second save in the same request (`regenerate()` on login, then the automatic commit) stores the
 * session as a 1-day one, and its cookie becomes persistent on a later request. Before each save,
 * put `'session'` back: `undefined` only ever comes from that mutation (every other path sets a
 * number or `'session'`).
 */
function keepBrowserSession(ctx: Koa.Context): void {
  const options = ctx.sessionOptions as { maxAge?: number | 'session' } | undefined;
  if (options && options.maxAge === undefined) options.maxAge = 'session';
}

/**
 * The keys that sign the cookie: a non-empty list of non-empty strings or Buffers (or a Keygrip).
 * `app.keys = [process.env.SESSION_SECRET]` with the variable unset would otherwise fail on the
 * first login, deep inside the cookie signing.
 */
function checkKeys(keys: unknown): void {
  if (keys === undefined || keys === null || (Array.isArray(keys) && keys.length === 0)) {
    throw new TypeError('"app.keys" must be set when "signed" is true (the session cookie is signed with them): app.keys = [secret]');
  }
  const keygrip = typeof keys === 'object' && typeof (keys as { sign?: unknown }).sign === 'function';
  if (keygrip) return;
  const good = (k: unknown) => (typeof k === 'string' || Buffer.isBuffer(k)) && k.length > 0;
  if (!Array.isArray(keys) || !keys.every(good)) {
    throw new TypeError('"app.keys" must be an array of non-empty strings or Buffers (is a secret environment variable unset?)');
  }
}

/** The koa-session middleware, plus what tests and graceful shutdown need. */
export interface RedisSessionMiddleware extends Koa.Middleware {
  /** The store sessions are kept in. */
  readonly store: SessionStore;
  /**
   * Closes the Redis client that `redisSession` created from a URL (or `REDIS_URL`); does nothing
   * for a client or store that was passed in. Safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Session middleware for Koa: koa-session 7 with the session data on the server (Redis) and only an
 * opaque, signed random id in the browser's cookie. Install it once per app, before the OpenID
 * routes and guards. A session that was not changed during a request is not written back (unless
 * `rolling` or `renew` say so).
 *
 * @throws TypeError on a bad option (naming it), when `signed` is on and `app.keys` is not set, or
 * when the app already has session middleware.
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
      if (given(name)) throw new TypeError(`"${name}" applies to the built-in stores only: configure your "store" instead`);
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
  if (opts.signed) checkKeys(app.keys);
  if (Object.prototype.hasOwnProperty.call(app.context, 'session')) {
    throw new TypeError('this app already has session middleware (ctx.session is defined): use redisSession() once per app');
  }

  let store: SessionStore;
  let owned: Redis | undefined;
  if (opts.store !== undefined) {
    // Checked by the schema: it has get, set and destroy, whatever its type says.
    store = opts.store as SessionStore;
    debug('sessions: in the given store');
  } else {
    let redis = opts.redis;
    if (redis === undefined && process.env.REDIS_URL) {
      if (!REDIS_URL.test(process.env.REDIS_URL)) {
        throw new TypeError('"REDIS_URL" must be a redis:// or rediss:// URL');
      }
      redis = process.env.REDIS_URL;
    }
    if (typeof redis === 'string') {
      owned = new Redis(redis, {
        connectionName: 'koa-session-openid',
        // Fail fast: a command waits at most storeTimeout (queued ones too), is retried once over a
        // reconnection, and the client reconnects within half a second once Redis is back.
        commandTimeout: opts.storeTimeout,
        maxRetriesPerRequest: 1,
        retryStrategy: (times: number) => Math.min(50 * 2 ** times, 500),
        // Commands of concurrent requests issued in one tick share one write (and one read).
        enableAutoPipelining: true,
      });
      owned.on('error', (err: Error) => debug('sessions: redis client error: %s', err.message));
      redis = owned;
      debug('sessions: in Redis (own client from a URL)');
    } else if (redis !== undefined) {
      debug('sessions: in Redis (the given client)');
    }
    store = redis === undefined
      ? new MemoryStore({ sessionTtl: opts.sessionTtl })
      : new RedisStore(redis, { prefix: opts.prefix, sessionTtl: opts.sessionTtl });
  }

  const sessionOptions: CreateSessionOptions = {
    key: opts.key ?? COOKIE_HTTP,
    maxAge: opts.maxAge,
    httpOnly: opts.httpOnly,
    signed: opts.signed,
    rolling: opts.rolling,
    renew: opts.renew,
    sameSite: opts.sameSite,
    secure: opts.secure,
    overwrite: true,
    autoCommit: true,
    beforeSave: keepBrowserSession,
    store: failingClearly(store, opts.storeTimeout) as NonNullable<CreateSessionOptions['store']>,
  };
  if (sessionOptions.secure === undefined) delete sessionOptions.secure;
  const sessions = createSession(app, sessionOptions) as Koa.Middleware;
  // The default cookie name follows the request: `__Host-` whenever the cookie is Secure.
  const named: Koa.Middleware =
    opts.key !== undefined || opts.secure === false
      ? sessions
      : (ctx, next) => {
          if (opts.secure === true || ctx.secure) ctx.sessionOptions!.key = COOKIE_HTTPS;
          return sessions(ctx, next);
        };
  const middleware = answeringStoreFailures(named);

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
