import {
  parseOptions, parseStored, StoreOptionsSchema, ttlMs,
  type SessionStore, type StoreMaxAge, type StoredSession,
} from './store.js';

export interface MemoryStoreOptions {
  /** Milliseconds a `maxAge: 'session'` session is kept after its last write. Default `86400000` (1 day). */
  sessionTtl?: number;
}

let warned = false;

/** How often, at most, a `set` also drops expired sessions (ms). */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * An in-process session store for demos and development: sessions vanish when the process restarts
 * and are not shared between processes, so it breaks logins behind a load balancer or in a cluster.
 * The first one constructed in a process emits a warning (`process.emitWarning`, code
 * `KOA_SESSION_OPENID_MEMORY_STORE`).
 *
 * Values are kept as JSON strings, as Redis would, so a session read back is a fresh copy.
 */
export class MemoryStore implements SessionStore {
  readonly sessionTtl: number;
  readonly #sessions = new Map<string, { json: string; expiresAt: number }>();
  readonly #claims = new Map<string, number>();
  #lastSweep = Date.now();

  constructor(options?: MemoryStoreOptions) {
    this.sessionTtl = parseOptions(StoreOptionsSchema.pick({ sessionTtl: true }).strict(), options, 'MemoryStore').sessionTtl;
    if (!warned) {
      warned = true;
      process.emitWarning(
        'koa-session-openid is keeping sessions in memory (MemoryStore). It is for development only: ' +
          'sessions vanish when the process restarts and are not shared between processes. ' +
          'Pass redisSession(app, { redis }) or set REDIS_URL in production.',
        { code: 'KOA_SESSION_OPENID_MEMORY_STORE' },
      );
    }
  }

  /** Sessions currently held (expired ones included until swept). */
  get size(): number {
    return this.#sessions.size;
  }

  async get(key: string, _maxAge?: StoreMaxAge, _options?: { rolling: boolean; ctx: unknown }): Promise<StoredSession | undefined> {
    const entry = this.#sessions.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return parseStored(entry.json);
  }

  async set(key: string, session: StoredSession, maxAge?: StoreMaxAge, _options?: { changed: boolean; rolling: boolean; ctx: unknown }): Promise<void> {
    const now = Date.now();
    if (now - this.#lastSweep >= SWEEP_INTERVAL_MS) this.#sweep(now);
    this.#sessions.set(key, { json: JSON.stringify(session), expiresAt: now + ttlMs(maxAge, this.sessionTtl) });
  }

  async destroy(key: string, _options?: { ctx: unknown }): Promise<void> {
    this.#sessions.delete(key);
  }

  /** `true` for the first caller within `ttlMs` (this process only: the store is not shared anyway). */
  async claim(id: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const until = this.#claims.get(id);
    if (until !== undefined && until > now) return false;
    this.#claims.set(id, now + ttlMs);
    return true;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, entry] of this.#sessions) {
      if (entry.expiresAt <= now) this.#sessions.delete(key);
    }
    for (const [id, until] of this.#claims) {
      if (until <= now) this.#claims.delete(id);
    }
  }
}
