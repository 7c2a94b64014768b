import {
  lifetimeMs, parseOptions, StoreOptionsSchema,
  type ChangeResult, type Condition, type ReadResult, type SessionChange, type SessionStore, type Taken, type Touch,
} from './store.js';

export interface MemoryStoreOptions {
  /** Milliseconds a `maxAge: 'session'` session is kept after its last write. Default `86400000` (1 day). */
  sessionTtl?: number;
}

let warned = false;

/** How often, at most, a change also drops expired sessions (ms). */
const SWEEP_INTERVAL_MS = 60_000;

interface Entry {
  fields: Map<string, string>;
  expiresAt: number;
}

const holds = (entry: Entry | undefined, c: Condition): boolean => (entry?.fields.get(c.field) ?? null) === c.value;

/**
 * An in-process session store for demos and development, with the semantics of {@link RedisStore}:
 * sessions vanish when the process restarts and are not shared between processes, so it breaks
 * logins behind a load balancer or in a cluster. The first one constructed in a process emits a
 * warning (`process.emitWarning`, code `KOA_SESSION_OPENID_MEMORY_STORE`).
 */
export class MemoryStore implements SessionStore {
  readonly prefix = '';
  readonly sessionTtl: number;
  readonly #sessions = new Map<string, Entry>();
  readonly #index = new Map<string, Map<string, number>>();
  readonly #claims = new Map<string, { until: number; owner: string }>();
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

  /** A session's remaining lifetime in milliseconds (`-2` when there is none), as Redis's `PTTL`. */
  pttl(tag: string): number {
    const entry = this.#entry(tag);
    return entry ? entry.expiresAt - Date.now() : -2;
  }

  #entry(tag: string): Entry | undefined {
    const entry = this.#sessions.get(tag);
    if (entry && entry.expiresAt <= Date.now()) {
      this.#sessions.delete(tag);
      return undefined;
    }
    return entry;
  }

  async read(tag: string, fields: string[], touch?: Touch): Promise<ReadResult> {
    const entry = this.#entry(tag);
    const values = fields.map((f) => entry?.fields.get(f) ?? null);
    if (!touch) return { values };
    if (!entry || !holds(entry, { field: 'k', value: touch.secretHash })) return { values, touched: false, maxAge: null };
    const m = entry.fields.get('m') ?? null;
    const ttl = lifetimeMs(m, touch.ms, this.sessionTtl);
    const touched = touch.mode === 'rolling' || entry.expiresAt - Date.now() < ttl / 2;
    if (!touched) return { values, touched, maxAge: m };
    entry.expiresAt = Date.now() + ttl;
    return { values, touched, maxAge: m, extendedMs: ttl, indexedUntil: entry.fields.get('i') ?? null };
  }

  async change(tag: string, change: SessionChange): Promise<ChangeResult> {
    const now = Date.now();
    if (now - this.#lastSweep >= SWEEP_INTERVAL_MS) this.#sweep(now);
    let entry = this.#entry(tag);
    const failed = (change.when ?? []).findIndex((c) => !holds(entry, c));
    if (failed !== -1) return { done: false, failed, fields: 0, maxAge: null };
    entry ??= { fields: new Map(), expiresAt: Infinity };
    for (const f of [...entry.fields.keys()]) {
      if (change.delPrefixes?.some((p) => f.startsWith(p))) entry.fields.delete(f);
    }
    for (const f of change.del ?? []) entry.fields.delete(f);
    for (const [f, v] of Object.entries(change.set ?? {})) entry.fields.set(f, v);
    const m = entry.fields.get('m') ?? null;
    if (change.keepIf?.length && ![...entry.fields.keys()].some((f) => change.keepIf!.some((p) => f.startsWith(p)))) entry.fields.clear();
    if (entry.fields.size === 0) {
      this.#sessions.delete(tag);
      return { done: true, fields: 0, maxAge: m };
    }
    let extendedMs = 0;
    if (change.ttl) {
      const ttl = lifetimeMs(m, change.ttl.ms, this.sessionTtl);
      if (change.ttl.mode === 'reset' || entry.expiresAt - now < ttl) {
        entry.expiresAt = now + ttl;
        extendedMs = ttl;
      }
    }
    this.#sessions.set(tag, entry);
    const result: ChangeResult = { done: true, fields: entry.fields.size, maxAge: m };
    return extendedMs ? { ...result, extendedMs, indexedUntil: entry.fields.get('i') ?? null } : result;
  }

  async take(tag: string, field: string, when: Condition, prefixes: string[] = []): Promise<Taken> {
    const entry = this.#entry(tag);
    const value = entry && holds(entry, when) ? (entry.fields.get(field) ?? null) : null;
    if (value === null) return { value, fields: {} };
    entry!.fields.delete(field);
    return { value, fields: prefixes.length ? await this.fieldsWithPrefix(tag, prefixes) : {} };
  }

  async destroy(tag: string, when: Condition): Promise<boolean> {
    if (!holds(this.#entry(tag), when)) return false;
    return this.#sessions.delete(tag);
  }

  async fieldsWithPrefix(tag: string, prefixes: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [f, v] of this.#entry(tag)?.fields ?? []) if (prefixes.some((p) => f.startsWith(p))) out[f] = v;
    return out;
  }

  async indexAdd(key: string, member: string, expiresAt: number): Promise<void> {
    let set = this.#index.get(key);
    if (!set) this.#index.set(key, (set = new Map()));
    set.set(member, expiresAt);
  }

  async indexMembers(key: string): Promise<string[]> {
    const now = Date.now();
    return [...(this.#index.get(key) ?? [])].filter(([, at]) => at > now).map(([m]) => m);
  }

  async indexRemove(key: string, member: string): Promise<void> {
    this.#index.get(key)?.delete(member);
  }

  async claim(key: string, ttlMs: number, owner = '1'): Promise<boolean> {
    const now = Date.now();
    if ((this.#claims.get(key)?.until ?? 0) > now) return false;
    this.#claims.set(key, { until: now + ttlMs, owner });
    return true;
  }

  async release(key: string, owner: string): Promise<boolean> {
    const held = this.#claims.get(key);
    if (!held || held.until <= Date.now() || held.owner !== owner) return false;
    this.#claims.delete(key);
    return true;
  }

  #sweep(now: number): void {
    for (const [key, { until }] of this.#claims) if (until <= now) this.#claims.delete(key);
    this.#lastSweep = now;
    for (const [tag, entry] of this.#sessions) if (entry.expiresAt <= now) this.#sessions.delete(tag);
    for (const [key, set] of this.#index) {
      for (const [m, at] of set) if (at <= now) set.delete(m);
      if (set.size === 0) this.#index.delete(key);
    }
  }
}
