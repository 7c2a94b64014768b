import { debug } from '../debug.js';
import {
  parseOptions, parseStored, StoreOptionsSchema, ttlMs,
  type SessionStore, type StoreMaxAge, type StoredSession, type StoreOptions,
} from './store.js';

/**
 * The commands the store sends (`SET ... NX` only for {@link RedisStore.claim}). An ioredis
 * `Redis` or `Cluster` client fits (any major version); the store never sends anything else: no
 * `SELECT`, no `KEYS`, nothing that changes the connection's state, so the client can be shared
 * with the rest of the app.
 */
export interface RedisClientLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number): Promise<unknown>;
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>;
  del(key: string): Promise<number>;
}

export type RedisStoreOptions = StoreOptions;

/**
 * A koa-session 7 store over ioredis: one `SET key json PX ttl` per save, `GET` per request that
 * carries a session cookie, `DEL` on logout or `regenerate()`. The client is the caller's: the store
 * never closes it.
 */
export class RedisStore implements SessionStore {
  readonly client: RedisClientLike;
  /** See {@link StoreOptionsSchema}: `prefix` default `'koa-session-openid:sess:'`. */
  readonly prefix: string;
  /** Milliseconds a `maxAge: 'session'` session is kept (default 1 day). */
  readonly sessionTtl: number;

  constructor(client: RedisClientLike, options?: RedisStoreOptions) {
    if (!client || typeof client.get !== 'function' || typeof client.set !== 'function' || typeof client.del !== 'function') {
      throw new TypeError('"client" must be an ioredis client');
    }
    const opts = parseOptions(StoreOptionsSchema.strict(), options, 'RedisStore');
    this.client = client;
    this.prefix = opts.prefix;
    this.sessionTtl = opts.sessionTtl;
  }

  /** The session stored under `key`, or `undefined` when there is none or its value is not a JSON object. */
  async get(key: string, _maxAge?: StoreMaxAge, _options?: { rolling: boolean; ctx: unknown }): Promise<StoredSession | undefined> {
    const raw = await this.client.get(this.prefix + key);
    if (raw === null || raw === undefined) return undefined;
    const session = parseStored(raw);
    if (!session) debug('session store: ignoring a stored session that is not a JSON object');
    return session;
  }

  /**
   * Stores `session` as JSON for `maxAge` milliseconds (`PX`); `'session'` (a browser-session
   * cookie) stores it for `sessionTtl`.
   */
  async set(key: string, session: StoredSession, maxAge?: StoreMaxAge, _options?: { changed: boolean; rolling: boolean; ctx: unknown }): Promise<void> {
    await this.client.set(this.prefix + key, JSON.stringify(session), 'PX', ttlMs(maxAge, this.sessionTtl));
  }

  async destroy(key: string, _options?: { ctx: unknown }): Promise<void> {
    await this.client.del(this.prefix + key);
  }

  /** `SET <prefix>claim:<id> 1 PX ttl NX`: `true` for the first caller only, across processes. */
  async claim(id: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(`${this.prefix}claim:${id}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }
}
