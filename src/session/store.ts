import { z } from 'zod';
export { parseOptions } from '../parse-options.js';

/**
 * The lifetime koa-session hands a store: milliseconds (already the cookie's `maxAge` plus 10 s,
 * so the stored session outlives its cookie), or the string `'session'` for a browser-session
 * cookie, which has no lifetime of its own.
 */
export type StoreMaxAge = number | 'session';

/** A session as koa-session passes it to a store: plain JSON data (`_expire`, `_maxAge` included). */
export type StoredSession = Record<string, unknown>;

/**
 * The store API of koa-session 7 (`opts.store`). Any object with these three methods can be given
 * to `redisSession(app, { store })`, e.g. koa-redis.
 */
export interface SessionStore {
  get(key: string, maxAge: StoreMaxAge | undefined, options: { rolling: boolean; ctx: unknown }): Promise<StoredSession | null | undefined>;
  set(key: string, session: StoredSession, maxAge: StoreMaxAge | undefined, options: { changed: boolean; rolling: boolean; ctx: unknown }): Promise<unknown>;
  destroy(key: string, options: { ctx: unknown }): Promise<unknown>;
  /**
   * Optional: marks `id` as taken for `ttlMs` and resolves `true`, or `false` when it already was,
   * atomically across every process sharing the store. The library uses it to make each login's
   * `state` single use even for concurrent callbacks. The built-in stores have it.
   */
  claim?(id: string, ttlMs: number): Promise<boolean>;
}

export const ONE_DAY_MS = 24 * 60 * 60 * 1000;

/** Options shared by the built-in stores: one schema, reused by `redisSession`'s options. */
export const StoreOptionsSchema = z.object({
  /**
   * Prepended to every session id to make the Redis key, so sessions share a database with other
   * data safely. Default `'koa-session-openid:sess:'`.
   */
  prefix: z.string({ error: 'must be a string' }).default('koa-session-openid:sess:'),
  /**
   * How long a browser-session session (`maxAge: 'session'`) is kept in the store after its last
   * write, in milliseconds. Such a cookie has no expiry the server could follow, so this bounds how
   * long a stolen or forgotten session id stays usable. Default `86400000` (1 day).
   */
  sessionTtl: z
    .number({ error: 'must be a positive number of milliseconds' })
    .finite({ error: 'must be a positive number of milliseconds' })
    .positive({ error: 'must be a positive number of milliseconds' })
    .default(ONE_DAY_MS),
});

export type StoreOptions = z.input<typeof StoreOptionsSchema>;

/** The store TTL in whole milliseconds for koa-session's `maxAge` (`'session'` → `sessionTtl`). */
export function ttlMs(maxAge: StoreMaxAge | undefined, sessionTtl: number): number {
  const ms = typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge > 0 ? maxAge : sessionTtl;
  return Math.max(1, Math.ceil(ms));
}

/** A stored value read back: a JSON object, or `undefined` for anything else (corrupt, wrong type). */
export function parseStored(raw: string): StoredSession | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as StoredSession) : undefined;
}
