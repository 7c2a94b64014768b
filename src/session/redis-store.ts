import {
  parseOptions, StoreOptionsSchema,
  type ChangeResult, type Condition, type ReadResult, type SessionChange, type SessionStore, type StoreOptions, type Taken, type Touch,
} from './store.js';
import { CHANGE, DESTROY, FIELDS_WITH_PREFIX, INDEX_ADD, READ_TOUCH, RELEASE, TAKE, type Script } from './redis-scripts.js';

type Arg = string | number;

/**
 * The commands the store sends: `HMGET`, `ZRANGEBYSCORE`, `ZREM`, `SET ... NX`, and `EVALSHA`
 * (`EVAL` once per script and server) for the rest. An ioredis `Redis` or `Cluster` client fits; nothing that
 * changes the connection's state is ever sent (no `SELECT`), so the client can be shared with the
 * rest of the app.
 */
export interface RedisClientLike {
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>>;
  evalsha(sha: string, numkeys: number, ...args: Arg[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: Arg[]): Promise<unknown>;
  zrangebyscore(key: string, min: Arg, max: Arg): Promise<string[]>;
  zrem(key: string, ...members: string[]): Promise<number>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<unknown>;
}

export type RedisStoreOptions = StoreOptions;

const isRedisClient = (client: unknown): client is RedisClientLike =>
  typeof client === 'object' && client !== null &&
  ['hmget', 'evalsha', 'eval', 'zrangebyscore', 'zrem', 'set'].every((m) => typeof (client as Record<string, unknown>)[m] === 'function');

/** A flat field/value list as an object. */
function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

const condArgs = (when: Condition[] = []): Arg[] => [when.length, ...when.flatMap((c) => (c.value === null ? [c.field, 'a', ''] : [c.field, 'v', c.value]))];
const listArgs = (list: string[] = []): Arg[] => [list.length, ...list];

/**
 * Sessions in Redis: one hash per session (`<prefix><tag>`), read with one `HMGET`, changed by one
 * script per change, so every operation is atomic and touches a single key (a Redis Cluster keeps a
 * session in one slot). The client is the caller's: the store never closes it.
 */
export class RedisStore implements SessionStore {
  readonly client: RedisClientLike;
  readonly prefix: string;
  /** Milliseconds a `maxAge: 'session'` session is kept after its last write (default 1 day). */
  readonly sessionTtl: number;

  constructor(client: RedisClientLike, options?: RedisStoreOptions) {
    if (!isRedisClient(client)) throw new TypeError('"client" must be an ioredis client');
    const opts = parseOptions(StoreOptionsSchema.strict(), options, 'RedisStore');
    this.client = client;
    this.prefix = opts.prefix;
    this.sessionTtl = opts.sessionTtl;
  }

  /** EVALSHA, and EVAL when the server does not know the script yet (first use, restart, failover). */
  async #run(s: Script, key: string, args: Arg[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, 1, key, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return this.client.eval(s.source, 1, key, ...args);
    }
  }

  async read(tag: string, fields: string[], touch?: Touch): Promise<ReadResult> {
    const key = this.prefix + tag;
    if (!touch) return { values: await this.client.hmget(key, ...fields) };
    const [values, extended, m, i] = (await this.#run(READ_TOUCH, key, [touch.mode, Math.ceil(touch.ms), this.sessionTtl, touch.secretHash, ...fields])) as [Array<string | null>, number, string | null, string | null];
    return extended > 0 ? { values, touched: true, maxAge: m ?? null, extendedMs: extended, indexedUntil: i ?? null } : { values, touched: false, maxAge: m ?? null };
  }

  async change(tag: string, change: SessionChange): Promise<ChangeResult> {
    const set = Object.entries(change.set ?? {});
    const args: Arg[] = [
      ...condArgs(change.when),
      ...listArgs(change.delPrefixes),
      ...listArgs(change.del),
      set.length, ...set.flat(),
      change.ttl?.mode ?? '', Math.ceil(change.ttl?.ms ?? 0), this.sessionTtl,
      ...listArgs(change.keepIf),
    ];
    const [done, n, m, extended, i] = (await this.#run(CHANGE, this.prefix + tag, args)) as [number, number, string | null, number?, string?];
    if (done !== 1) return { done: false, failed: n - 1, fields: 0, maxAge: null };
    return { done: true, fields: n, maxAge: m ?? null, ...(extended ? { extendedMs: extended, indexedUntil: i ?? null } : {}) };
  }

  async take(tag: string, field: string, when: Condition, prefixes: string[] = []): Promise<Taken> {
    const [value, ...flat] = (await this.#run(TAKE, this.prefix + tag, [when.field, when.value ?? '', field, ...prefixes])) as Array<string | null>;
    return { value: value ?? null, fields: pairs(flat as string[]) };
  }

  async destroy(tag: string, when: Condition): Promise<boolean> {
    return (await this.#run(DESTROY, this.prefix + tag, [when.field, when.value ?? ''])) === 1;
  }

  async fieldsWithPrefix(tag: string, prefixes: string[]): Promise<Record<string, string>> {
    return pairs((await this.#run(FIELDS_WITH_PREFIX, this.prefix + tag, prefixes)) as string[]);
  }

  async indexAdd(key: string, member: string, expiresAt: number): Promise<void> {
    await this.#run(INDEX_ADD, key, [member, Math.ceil(expiresAt), Date.now()]);
  }

  indexMembers(key: string): Promise<string[]> {
    return this.client.zrangebyscore(key, Date.now(), '+inf');
  }

  async indexRemove(key: string, member: string): Promise<void> {
    await this.client.zrem(key, member);
  }

  async claim(key: string, ttlMs: number, owner = '1'): Promise<boolean> {
    return (await this.client.set(key, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.#run(RELEASE, key, [owner])) === 1;
  }
}
