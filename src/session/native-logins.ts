import { OpenIDError } from '../errors.js';
import type { UserLogin } from '../state.js';
import { indexLogin, unindexLogin } from './login-index.js';
import { decodeHotLogin, decodeLogin, encodeHot, encodeTokens, loginEnded, USE_MARK_INTERVAL_MS } from './login-record.js';
import type { Replaced, SessionLogins } from './logins.js';
import { pendingToDrop, settle, stateId, type SettledLogin, type Transaction } from './pending.js';
import type { RequestSession } from './request-session.js';
import { COLD, CONTENT, HOT, INDEXED, LOGOUT, loginFields, PENDING, SETTLED, SILENT, USED } from './fields.js';

function parseObject<T>(raw: string | null | undefined): T | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits `fields` with `prefix` off, parsed, keyed without the prefix. */
function withPrefix<T>(fields: Record<string, string>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [f, raw] of Object.entries(fields)) {
    const value = f.startsWith(prefix) ? parseObject<T>(raw) : undefined;
    if (value) out[f.slice(prefix.length)] = value;
  }
  return out;
}

/**
 * Logins in the built-in session: each provider's login in two fields (hot `l:<name>`, cold
 * `t:<name>`), each pending login in `p:<state id>`, each settled one in `s:<state id>`. Every
 * change writes only its own fields, atomically: a refresh is conditional on the login it
 * refreshed (a logout meanwhile is not undone), taking a pending login is single use, and a
 * completed login renews the session id in the same step.
 */
export class NativeLogins implements SessionLogins {
  readonly #rs: RequestSession;
  /** The hot records as read in this request: a replacement is conditional on them. */
  readonly #read = new Map<string, string>();
  /** The pending and settled logins left when this request took its pending login. */
  #left: Record<string, string> | undefined;

  constructor(rs: RequestSession) {
    this.#rs = rs;
  }

  get isNew(): boolean {
    return this.#rs.isNew;
  }

  /**
   * The login, unless it has ended (its absolute lifetime, or idle past its timeout): an ended one
   * is removed and reads as none. A use is recorded when the last was a minute ago or more; the
   * record also extends the session's lifetime.
   */
  async login(name: string, withTokens = false): Promise<UserLogin | undefined> {
    const found = await this.#live(name, withTokens);
    if (!found) return undefined;
    const { login, hot, usedAt } = found;
    const now = Date.now();
    if (now - (usedAt ?? login.loggedInAt * 1000) >= USE_MARK_INTERVAL_MS) {
      // Conditional on the login read: a use is not recorded for a login ended or replaced meanwhile.
      await this.#rs.change({ when: [{ field: HOT + name, value: hot }], set: { [USED + name]: String(now) }, ttl: { ms: this.#rs.lifetimeMs(), mode: 'extend' } });
    }
    return usedAt === undefined ? login : { ...login, lastUsedAt: Math.floor(usedAt / 1000) };
  }

  /** The login as stored (its hot record's text, its last use), unless it ended by its lifetimes: then it is removed. Records no use. */
  async #live(name: string, withTokens: boolean): Promise<{ login: UserLogin; hot: string; usedAt: number | undefined } | undefined> {
    const values = await this.#rs.read(withTokens ? [HOT + name, USED + name, COLD + name] : [HOT + name, USED + name]);
    const hot = values?.[0];
    const login = hot ? (withTokens ? decodeLogin(hot, values![2]) : decodeHotLogin(hot)) : undefined;
    if (!hot || !login) return undefined;
    const usedAt = Number(values![1]) || undefined;
    if (loginEnded(login, usedAt, Date.now())) {
      await this.#remove(name, login, hot);
      return undefined;
    }
    this.#read.set(name, hot);
    return { login, hot, usedAt };
  }

  /**
   * Removes a login (only while its hot record is still `hot`, when given) with its index entries,
   * and the session when nothing else is left in it.
   */
  async #remove(name: string, login: UserLogin, hot?: string): Promise<boolean> {
    const tag = this.#rs.tag;
    const when = hot === undefined ? [] : [{ field: HOT + name, value: hot }];
    const result = await this.#rs.change({ when, del: loginFields(name), keepIf: CONTENT });
    this.#read.delete(name);
    if (!result?.done) return false;
    if (tag) await unindexLogin(this.#rs.cfg.store, name, login.claims, tag);
    return true;
  }

  async startLogin(state: string, tx: Transaction, ttlMs: number, max: number): Promise<void> {
    const pending = this.#rs.isNew ? {} : withPrefix<Transaction>(await this.#rs.fieldsWithPrefix([PENDING]), PENDING);
    const drop = pendingToDrop(pending, tx.provider, ttlMs, max).map((id) => PENDING + id);
    // A session that only exists because a login started lives no longer than the login may take.
    const set = { [PENDING + stateId(state)]: JSON.stringify(tx), ...(tx.silent ? { [SILENT + tx.provider]: '1' } : {}) };
    await this.#rs.change({ del: drop, set, ttl: { ms: ttlMs, mode: 'extend' } }, true);
  }

  async silentTried(name: string): Promise<boolean> {
    return ((await this.#rs.read([SILENT + name]))?.[0] ?? null) !== null;
  }

  async takeLogin(state: string): Promise<Transaction | undefined> {
    const taken = await this.#rs.take(PENDING + stateId(state), [PENDING, SETTLED, INDEXED]);
    this.#left = taken.fields;
    return parseObject<Transaction>(taken.value);
  }

  async settled(state: string, ttlMs: number): Promise<SettledLogin | undefined> {
    const values = await this.#rs.read([SETTLED + stateId(state)]);
    const found = parseObject<SettledLogin>(values?.[0]);
    return found && Date.now() - found.at < ttlMs ? found : undefined;
  }

  async completeLogin(state: string, tx: Transaction, login: UserLogin, ttlMs: number): Promise<void> {
    const fields = this.#left ?? (await this.#rs.fieldsWithPrefix([PENDING, SETTLED]));
    const { settled, dropped } = settle(withPrefix(fields, PENDING), withPrefix(fields, SETTLED), stateId(state), tx, ttlMs);
    const lifetime = this.#rs.lifetimeMs();
    const hot = encodeHot(login);
    // Indexed for half a lifetime more than the session lives (see RequestSession's #keepIndexed);
    // the session's mark is the earliest of its logins'.
    const indexedUntil = Date.now() + lifetime + Math.ceil(lifetime / 2);
    const earlier = Number(fields[INDEXED]);
    // The index entries and the login are written together (one round trip: on one connection
    // Redis runs them in that order). An entry without its login is harmless (lookups read the
    // login); a login that a logout from the provider cannot find is not: if indexing failed, the
    // login is taken out again and the request fails.
    const tag = this.#rs.tag!;
    const [indexed, stored] = await Promise.allSettled([
      indexLogin(this.#rs.cfg.store, tx.provider, login.claims, tag, indexedUntil),
      this.#rs.renew({
        delPrefixes: [PENDING],
        del: dropped.map((id) => SETTLED + id),
        set: {
          [HOT + tx.provider]: hot,
          [COLD + tx.provider]: encodeTokens(login.tokens),
          [USED + tx.provider]: String(Date.now()),
          [INDEXED]: String(earlier > 0 ? Math.min(earlier, indexedUntil) : indexedUntil),
          ...Object.fromEntries(Object.entries(settled).map(([id, s]) => [SETTLED + id, JSON.stringify(s)])),
        },
        ttl: { ms: lifetime, mode: 'reset' },
      }, false),
    ]);
    if (indexed.status === 'rejected') {
      if (stored.status === 'fulfilled' && stored.value?.done) {
        await this.#rs.change({ when: [{ field: HOT + tx.provider, value: hot }], del: [HOT + tx.provider, COLD + tx.provider] }).catch(() => undefined);
      }
      throw indexed.reason;
    }
    if (stored.status === 'rejected') throw stored.reason;
    // The session changed hands since the login was taken: another login finished first (and renewed it), or it ended.
    if (!stored.value?.done) throw new OpenIDError('invalid_state', 'another login in this browser finished first: start this one again');
    this.#read.set(tx.provider, hot);
  }

  async replaceLogin(name: string, login: UserLogin): Promise<Replaced> {
    const before = this.#read.get(name);
    if (before === undefined) return 'gone';
    const hot = encodeHot(login);
    const result = await this.#rs.change({ when: [{ field: HOT + name, value: before }], set: { [HOT + name]: hot, [COLD + name]: encodeTokens(login.tokens) } });
    if (result?.done) {
      this.#read.set(name, hot);
      return 'replaced';
    }
    this.#read.delete(name);
    this.#rs.forget(HOT + name, COLD + name);
    return result && (await this.login(name)) ? 'changed' : 'gone';
  }

  async reread(name: string): Promise<UserLogin | undefined> {
    this.#rs.forget(HOT + name, COLD + name);
    return this.login(name, true);
  }

  adopt(name: string): Promise<UserLogin | undefined> {
    return this.reread(name);
  }

  /** The lock's key: one per session and provider. */
  #lockKey(name: string): string | undefined {
    return this.#rs.tag && `${this.#rs.cfg.store.prefix}lock:${this.#rs.tag}:${name}`;
  }

  async lock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = this.#lockKey(name);
    return key === undefined || this.#rs.cfg.store.claim(key, ttlMs, owner);
  }

  async unlock(name: string, owner: string): Promise<void> {
    const key = this.#lockKey(name);
    if (key !== undefined) await this.#rs.cfg.store.release(key, owner);
  }

  async startLogout(state: string, provider: string, ttlMs: number): Promise<void> {
    await this.#rs.change({ set: { [LOGOUT + stateId(state)]: JSON.stringify({ provider, at: Date.now() }) }, ttl: { ms: ttlMs, mode: 'extend' } }, true);
  }

  async takeLogout(state: string, ttlMs: number): Promise<string | undefined> {
    const taken = parseObject<{ provider: string; at: number }>((await this.#rs.take(LOGOUT + stateId(state))).value);
    return taken && Date.now() - taken.at < ttlMs ? taken.provider : undefined;
  }

  async removeLogin(name: string, options: { unchanged?: boolean } = {}): Promise<boolean> {
    const before = options.unchanged ? this.#read.get(name) : undefined;
    if (options.unchanged && before === undefined) return false;
    const found = await this.#live(name, false);
    return found ? this.#remove(name, found.login, before) : false;
  }
}
