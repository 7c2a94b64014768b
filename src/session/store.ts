import { z } from 'zod';
export { parseOptions } from '../parse-options.js';

/**
 * A condition on one field of a session: it holds exactly `value`, or (`value: null`) is absent.
 * A session that does not exist has every field absent.
 */
export interface Condition {
  field: string;
  value: string | null;
}

/** One atomic change of a session: applied whole when every condition holds, else not at all. */
export interface SessionChange {
  when?: Condition[];
  set?: Record<string, string>;
  del?: string[];
  /** Deletes every field whose name starts with one of these. */
  delPrefixes?: string[];
  /**
   * The session's lifetime afterwards, in milliseconds: `'reset'` restarts it, `'extend'` only
   * lengthens it. A lifetime the session stores for itself (field `m`) wins over `ms`.
   */
  ttl?: { ms: number; mode: 'reset' | 'extend' };
  /**
   * After the change, delete the whole session unless a field starting with one of these is left
   * (a logout that leaves nothing worth keeping ends the session).
   */
  keepIf?: string[];
}

export interface ChangeResult {
  /** Whether the conditions held (and the change was made). */
  done: boolean;
  /** When not done: the index (in `when`) of the first condition that failed. */
  failed?: number;
  /** How many fields the session has afterwards (0: it is gone). */
  fields: number;
  /** The session's own lifetime (field `m`), if it has one. */
  maxAge: string | null;
  /** When the change restarted or lengthened the session's lifetime: to how many ms from now. */
  extendedMs?: number;
  /** Then also: until when its logins are indexed (field `i`, ms since the epoch), if they are. */
  indexedUntil?: string | null;
}

/** A read that also restarts the session's lifetime: always (`rolling`) or once half of it is gone (`renew`). */
export interface Touch {
  ms: number;
  mode: 'rolling' | 'renew';
  /** Only a reader holding the session's secret touches it (field `k`). */
  secretHash: string;
}

export interface Taken {
  /** The value taken, or `null` (absent, or the condition failed). */
  value: string | null;
  /** When taken: the fields with the prefixes asked for. */
  fields: Record<string, string>;
}

export interface ReadResult {
  /** The values of the fields asked for, in order (`null`: absent). */
  values: Array<string | null>;
  /** With a touch: whether the lifetime was restarted, and the session's own lifetime (field `m`). */
  touched?: boolean;
  maxAge?: string | null;
  /** When touched: to how many ms from now, and until when its logins are indexed (field `i`). */
  extendedMs?: number;
  indexedUntil?: string | null;
}

/**
 * Where sessions are kept: each one a small hash of fields under `<prefix><tag>`, every operation
 * on one key (so each is atomic, and a Redis Cluster keeps a session in one slot), plus the login
 * index (one sorted set per provider session or subject). {@link RedisStore} and, for development,
 * {@link MemoryStore} implement it.
 */
export interface SessionStore {
  /** The key prefix (sessions and index entries). */
  readonly prefix: string;
  /** One round trip: the values of `fields` (Redis `HMGET`, or one script with a touch). */
  read(tag: string, fields: string[], touch?: Touch): Promise<ReadResult>;
  change(tag: string, change: SessionChange): Promise<ChangeResult>;
  /**
   * Removes `field` and returns its value, atomically (a pending login is taken once), when `when`
   * holds; with `prefixes`, also the fields left that start with one of them (in the same step).
   */
  take(tag: string, field: string, when: Condition, prefixes?: string[]): Promise<Taken>;
  /** Deletes the session when `when` holds. */
  destroy(tag: string, when: Condition): Promise<boolean>;
  /** The fields whose names start with one of `prefixes` (for the upkeep of pending logins). */
  fieldsWithPrefix(tag: string, prefixes: string[]): Promise<Record<string, string>>;
  /** Adds `member` to the sorted set `key` until `expiresAt` (ms); the set expires with its last member. */
  indexAdd(key: string, member: string, expiresAt: number): Promise<void>;
  /** The members of `key` that have not expired. */
  indexMembers(key: string): Promise<string[]>;
  indexRemove(key: string, member: string): Promise<void>;
  /**
   * Marks `key` as taken for `ttlMs`: `true` for the first caller, `false` while it is taken (a
   * logout token's `jti`; a refresh lock, whose `owner` value lets only its taker release it).
   */
  claim(key: string, ttlMs: number, owner?: string): Promise<boolean>;
  /** Frees `key` when it is still taken by `owner` (an expired lock retaken by another stays theirs). */
  release(key: string, owner: string): Promise<boolean>;
}

export const ONE_DAY_MS = 24 * 60 * 60 * 1000;

/** Options shared by the built-in stores: one schema, reused by `redisSession`'s options. */
export const StoreOptionsSchema = z.object({
  /**
   * Prepended to every key (`<prefix><tag>` per session, `<prefix>idx:…` for the login index), so
   * sessions share a database with other data safely. Default `'koa-session-openid:'`.
   */
  prefix: z.string({ error: 'must be a string' }).default('koa-session-openid:'),
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

/** The lifetime to apply: the session's own (`m`: milliseconds or `'session'`), else `ms`. */
export function lifetimeMs(stored: string | null | undefined, ms: number, sessionTtl: number): number {
  if (stored === 'session') return sessionTtl;
  const own = stored ? Number(stored) : NaN;
  return Math.max(1, Math.ceil(Number.isFinite(own) && own > 0 ? own : ms));
}
