import type { Context } from 'koa';
import { DATA, HOT } from './fields.js';
import { cookieHeader, readCookie, serializeCookie } from './cookie.js';
import { formatSessionId, newSessionId, parseSessionId, renewedSessionId, secretHash, type SessionId } from './session-id.js';
import { indexLogin } from './login-index.js';
import { decodeHotLogin } from './login-record.js';
import { Session } from './session.js';
import type { ChangeResult, Condition, SessionChange, SessionStore, Taken } from './store.js';

/** The session cookie's default names: plain on http (development), `__Host-` prefixed whenever it is Secure. */
const COOKIE_HTTP = 'koa-session-openid';
const COOKIE_HTTPS = '__Host-koa-session-openid';

/** What the middleware resolved from its options, shared by every request. */
export interface SessionConfig {
  store: SessionStore;
  /** A fixed cookie name, else the default one for the request's scheme. */
  key?: string;
  maxAge: number | 'session';
  sessionTtl: number;
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  secure?: boolean;
  rolling: boolean;
  renew: boolean;
  /** Fields read along with the app data when that is loaded (the providers' logins). */
  prefetch: string[];
}

/** The middleware's configuration, on `app.context` (so every request inherits it at no cost). */
const SESSION_CONFIG = Symbol('koa-session-openid.config');
/** A request's session, on its context once something used it. */
const REQUEST_SESSION = Symbol('koa-session-openid.session');

type WithSession = Context & { [SESSION_CONFIG]?: SessionConfig; [REQUEST_SESSION]?: RequestSession };

/**
 * Puts the configuration on `app.context`, with an empty session slot: a request that never uses
 * its session then finds the slot on the prototype. Looking up a property that is nowhere on the
 * chain takes V8's slow path on every request, and a WeakMap of contexts makes every garbage
 * collection pay for its entries.
 */
export function installSessions(appContext: object, cfg: SessionConfig): void {
  Object.assign(appContext, { [SESSION_CONFIG]: cfg, [REQUEST_SESSION]: undefined });
}

/** The request's session, made on first use; `undefined` when the app has no session middleware. */
export function sessionOfContext(ctx: Context): RequestSession | undefined {
  const current = (ctx as WithSession)[REQUEST_SESSION];
  if (current !== undefined) return current;
  const cfg = (ctx as WithSession)[SESSION_CONFIG];
  if (cfg === undefined) return undefined;
  const rs = new RequestSession(ctx, cfg);
  (ctx as WithSession)[REQUEST_SESSION] = rs;
  return rs;
}

/** The request's session if something used it (to commit at the end of the request). */
export function usedSession(ctx: Context): RequestSession | undefined {
  return (ctx as WithSession)[REQUEST_SESSION];
}

/**
 * One request's view of its session. Nothing is read before something asks (a login, or
 * `ctx.session` when the cookie says the session holds app data), nothing is written unless it
 * changed, and every write is a change of its own fields, conditional on the session's secret:
 * a request holding an old or planted id writes nothing, and one that changed the app data does
 * not write back the logins it read.
 */
export class RequestSession {
  readonly ctx: Context;
  readonly cfg: SessionConfig;
  /** The library's view of this session's logins (logins.ts), made on first use. */
  logins: unknown;
  #id: SessionId | undefined;
  /** The browser sent a session cookie (valid or not), which a logout must clear. */
  readonly #sentCookie: boolean;
  /** Whether the store holds this id with this secret: unknown until the first read or write. */
  #verified: boolean | undefined;
  readonly #cache = new Map<string, string | null>();
  #touch: boolean;
  #cookieDirty = false;
  /** The session's own lifetime (field `m`): `undefined` while unknown. */
  #maxAge: string | null | undefined;
  // ctx.session: undefined until asked for, null once destroyed.
  #session: Session | null | undefined;
  #loadedData: string | undefined;
  #forceSave = false;
  #maxAgeChanged = false;
  /** A change ended the session (nothing was left): the cookie is cleared unless a new session starts. */
  #ended = false;
  /** The app data could not be loaded (the store is down): `ctx.session` throws this. */
  #unavailable: unknown;

  constructor(ctx: Context, cfg: SessionConfig) {
    this.ctx = ctx;
    this.cfg = cfg;
    const raw = readCookie(cookieHeader(ctx.req), this.cookieName);
    this.#sentCookie = raw !== undefined;
    this.#id = parseSessionId(raw);
    this.#touch = cfg.rolling || cfg.renew;
  }

  get secure(): boolean {
    return this.cfg.secure ?? this.ctx.secure;
  }

  get cookieName(): string {
    return this.cfg.key ?? (this.secure ? COOKIE_HTTPS : COOKIE_HTTP);
  }

  /** The session id in the cookie (`undefined` without a session). */
  get externalKey(): string | undefined {
    return this.#id && formatSessionId(this.#id);
  }

  /** The session's tag (its store key without the prefix), while it has one. */
  get tag(): string | undefined {
    return this.#id?.tag;
  }

  /** The browser holds no (valid) session: no cookie, or one the store does not know. */
  get isNew(): boolean {
    return !this.#id || this.#verified === false;
  }

  /** The cookie says there is app data to load before the request runs. */
  get hasData(): boolean {
    return this.#id?.data === true;
  }

  /** The hash of the current id's secret (computed once per id). */
  #hashOf: { secret: string; hash: string } | undefined;

  #secretHash(id: SessionId): string {
    if (this.#hashOf?.secret !== id.secret) this.#hashOf = { secret: id.secret, hash: secretHash(id.secret) };
    return this.#hashOf.hash;
  }

  #secretCondition(): Condition {
    return { field: 'k', value: this.#secretHash(this.#id!) };
  }

  /** The values of `fields` in one round trip (cached for the request), or `undefined` without a valid session. */
  async read(fields: string[]): Promise<Array<string | null> | undefined> {
    // The store already failed this request (the preload): answer that at once, not after another timeout.
    if (this.#unavailable !== undefined) throw this.#unavailable;
    const id = this.#id;
    if (!id || this.#verified === false) return undefined;
    const missing = fields.filter((f) => !this.#cache.has(f));
    if (missing.length || this.#verified === undefined) {
      const hashOfSecret = this.#secretHash(id);
      const touch = this.#touch ? { ms: this.#lifetimeMs(null), mode: this.cfg.rolling ? ('rolling' as const) : ('renew' as const), secretHash: hashOfSecret } : undefined;
      missing.unshift('k');
      const result = await this.cfg.store.read(id.tag, missing, touch);
      missing.shift();
      if (this.#id !== id) return this.read(fields); // renewed meanwhile
      // Comparing digests: a timing difference could only reveal the digest, never the secret.
      if (result.values[0] !== hashOfSecret) {
        this.#verified = false;
        this.#cache.clear();
        return undefined;
      }
      this.#verified = true;
      missing.forEach((f, i) => this.#cache.set(f, result.values[i + 1] ?? null));
      if (touch) {
        this.#touch = false;
        this.#maxAge = result.maxAge ?? null;
        if (result.touched) this.#cookieDirty = true;
        await this.#keepIndexed(result);
      }
    }
    return fields.map((f) => this.#cache.get(f) ?? null);
  }

  /**
   * The session's logins stay findable for as long as it lives: when a write or a touch made it
   * live past the time its logins are indexed until (field `i`), they are indexed again, for half
   * a lifetime more than needed (so a session used all the time is re-indexed once per half
   * lifetime, not on every request).
   */
  async #keepIndexed(result: { extendedMs?: number; indexedUntil?: string | null }): Promise<void> {
    if (!result.extendedMs || !result.indexedUntil || !this.#id) return;
    const expiresAt = Date.now() + result.extendedMs;
    if (expiresAt <= Number(result.indexedUntil)) return;
    const until = expiresAt + Math.ceil(result.extendedMs / 2);
    const { tag } = this.#id;
    const logins = await this.cfg.store.fieldsWithPrefix(tag, [HOT]);
    await Promise.all(
      Object.entries(logins).map(([field, raw]) => {
        const login = decodeHotLogin(raw);
        return login ? indexLogin(this.cfg.store, field.slice(2), login.claims, tag, until) : undefined;
      }),
    );
    await this.cfg.store.change(tag, { when: [this.#secretCondition()], set: { i: String(until) } });
  }

  /** Forgets what was read of `fields`: the next read asks the store again. */
  forget(...fields: string[]): void {
    for (const f of fields) this.#cache.delete(f);
  }

  /**
   * The fields starting with one of `prefixes` (pending logins' upkeep; not cached). Read without
   * checking the secret: use them only to build a change, which is conditional on it.
   */
  async fieldsWithPrefix(prefixes: string[]): Promise<Record<string, string>> {
    if (!this.#id || this.#verified === false) return {};
    return this.cfg.store.fieldsWithPrefix(this.#id.tag, prefixes);
  }

  #remember(change: SessionChange, result: ChangeResult): void {
    this.#maxAge = result.maxAge;
    if (change.delPrefixes?.length) {
      for (const f of [...this.#cache.keys()]) if (change.delPrefixes.some((p) => f.startsWith(p))) this.#cache.delete(f);
    }
    for (const f of change.del ?? []) this.#cache.set(f, null);
    for (const [f, v] of Object.entries(change.set ?? {})) this.#cache.set(f, v);
  }

  /**
   * Applies `change` to this session, atomically and only while the session is this browser's
   * (its secret) and `change.when` holds. `create`: when there is no session, start one (a new id,
   * sent in the cookie). `undefined` when there is no session and none was created.
   */
  async change(change: SessionChange, create = false): Promise<ChangeResult | undefined> {
    const result = await this.#applyToCurrent(change);
    if (result || !create) return result;
    const id = newSessionId(false);
    const fresh = { ...change, when: [{ field: 'k', value: null }, ...(change.when ?? [])], set: { ...change.set, k: this.#secretHash(id) } };
    const created = await this.cfg.store.change(id.tag, fresh);
    if (!created.done) return { ...created, failed: created.failed! - 1 };
    this.#id = id;
    this.#verified = true;
    this.#cookieDirty = true;
    this.#cache.clear();
    this.#remember(fresh, created);
    return created;
  }

  /**
   * Applies `change` and gives the session a new secret in the same atomic step (the id renewal at
   * login: session fixation). Without a session, starts one when `create`, else gives `undefined`.
   */
  async renew(change: SessionChange, create = true): Promise<ChangeResult | undefined> {
    const result = this.#id ? await this.#applyToCurrent(change, renewedSessionId(this.#id)) : undefined;
    if (result) return result;
    return create ? this.change(change, true) : undefined;
  }

  /**
   * `change` on this browser's session, conditional on its secret (and, with `next`, under that new
   * secret). `undefined` when there is no such session (any more); a result whose `failed` names
   * the condition of `change.when` that did not hold otherwise.
   */
  async #applyToCurrent(change: SessionChange, next?: SessionId): Promise<ChangeResult | undefined> {
    if (!this.#id || this.#verified === false) return undefined;
    const when = [this.#secretCondition(), ...(change.when ?? [])];
    const applied = next ? { ...change, when, set: { ...change.set, k: this.#secretHash(next) } } : { ...change, when };
    const result = await this.cfg.store.change(this.#id.tag, applied);
    if (!result.done) {
      if (result.failed !== 0) return { ...result, failed: result.failed! - 1 };
      this.#verified = false;
      this.#cache.clear();
      return undefined;
    }
    if (result.fields === 0) {
      // The change left nothing worth keeping (`keepIf`): the session is gone, and so is its cookie.
      this.#id = undefined;
      this.#verified = undefined;
      this.#cache.clear();
      this.#ended = true;
      return result;
    }
    // A renewed id, or a longer life (the cookie follows the store: a login's use extends both).
    if (next || (result.extendedMs && change.ttl?.mode === 'extend')) this.#cookieDirty = true;
    if (next) this.#id = next;
    this.#verified = true;
    this.#remember(applied, result);
    await this.#keepIndexed(result);
    return result;
  }

  /**
   * Removes `field` and returns its value, atomically: of concurrent takers, one gets it. With
   * `prefixes`, the fields left that start with one of them come along (not checked: use them
   * only to build a change, which is conditional on the secret).
   */
  async take(field: string, prefixes: string[] = []): Promise<Taken> {
    if (!this.#id || this.#verified === false) return { value: null, fields: {} };
    const taken = await this.cfg.store.take(this.#id.tag, field, this.#secretCondition(), prefixes);
    this.#cache.delete(field);
    return taken;
  }

  /** Ends the session: deleted from the store, the cookie cleared at the end of the request. */
  async destroy(): Promise<void> {
    if (this.#id && this.#verified !== false) await this.cfg.store.destroy(this.#id.tag, this.#secretCondition());
    this.#id = undefined;
    this.#verified = undefined;
    this.#cache.clear();
    this.#session = null;
  }

  // --- ctx.session (koa-session's API) ---

  /**
   * Loads the app data (and the providers' logins along with it): the cookie says there is some.
   * When the store is down, only requests that use `ctx.session` fail (it throws the store's
   * `session_unavailable`); pages that do not use it still answer.
   */
  async preload(): Promise<void> {
    let values: Array<string | null> | undefined;
    try {
      values = await this.read([DATA, 'm', ...this.cfg.prefetch]);
    } catch (err) {
      this.#unavailable = err;
      return;
    }
    if (!values) return;
    this.#loadedData = values[0] ?? undefined;
    this.#maxAge = values[1];
  }

  get session(): Session | null {
    if (this.#unavailable !== undefined) throw this.#unavailable;
    if (this.#session === undefined) {
      let data: Record<string, unknown> | undefined;
      try {
        data = this.#loadedData === undefined ? undefined : (JSON.parse(this.#loadedData) as Record<string, unknown>);
      } catch {
        data = undefined; // not ours to interpret: start over
      }
      this.#session = new Session(this, data);
    }
    return this.#session;
  }

  set session(value: Record<string, unknown> | null) {
    if (value === null) {
      this.#session = null;
      return;
    }
    if (typeof value !== 'object') throw new TypeError('ctx.session can only be set to null or an object');
    this.#session = new Session(this, { ...value });
  }

  get maxAge(): number | 'session' {
    const own = this.#maxAge;
    if (own === 'session') return 'session';
    return own && Number(own) > 0 ? Number(own) : this.cfg.maxAge;
  }

  set maxAge(value: number | 'session') {
    if (value !== 'session' && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new TypeError("ctx.session.maxAge must be a positive number of milliseconds or 'session'");
    }
    this.#maxAge = String(value);
    this.#maxAgeChanged = true;
  }

  /** Save the app data at the end of the request even if unchanged. */
  requireSave(): void {
    this.#forceSave = true;
  }

  /** `regenerate()`: the same data under a new id (the old one stops working at once). */
  async regenerate(): Promise<void> {
    await this.renew({});
  }

  /** How long the session lives after a write (ms): its own lifetime, else the configured one. */
  lifetimeMs(): number {
    return this.#lifetimeMs(this.#maxAge);
  }

  #lifetimeMs(own: string | null | undefined): number {
    if (own === 'session' || (own == null && this.cfg.maxAge === 'session')) return this.cfg.sessionTtl;
    const n = Number(own);
    return own && n > 0 ? n : (this.cfg.maxAge as number);
  }

  /** Whether the end of the request has anything to do (write, end the session, set the cookie). */
  get pending(): boolean {
    return this.#session !== undefined || this.#cookieDirty || this.#ended;
  }

  /** Writes what changed in `ctx.session`, ends a destroyed session, and sets the cookie when it changed. */
  async commit(): Promise<void> {
    if (this.#unavailable !== undefined && this.#session === undefined) return;
    if (this.#session === null) {
      await this.destroy();
      if (this.#sentCookie || this.#cookieDirty) this.#setCookie('', 0);
      this.#cookieDirty = false;
      return;
    }
    const session = this.#session;
    if (session) {
      const json = JSON.stringify(session.toJSON());
      if (json !== (this.#loadedData ?? '{}') || this.#forceSave || this.#maxAgeChanged) {
        const empty = json === '{}';
        const set: Record<string, string> = empty ? {} : { [DATA]: json };
        if (this.#maxAgeChanged) set.m = this.#maxAge!;
        const change: SessionChange = { set, del: empty ? [DATA] : [], ttl: { ms: this.#lifetimeMs(this.#maxAge), mode: 'reset' } };
        const result = await this.change(change, !empty || this.#maxAgeChanged);
        if (result?.done) {
          this.#loadedData = empty ? undefined : json;
          this.#id = { ...this.#id!, data: !empty };
          this.#cookieDirty = result.fields > 0;
        }
        this.#forceSave = this.#maxAgeChanged = false;
      }
    }
    if (this.#ended && !this.#id && this.#sentCookie) this.#setCookie('', 0);
    if (this.#cookieDirty && this.#id) {
      const own = this.#maxAge;
      this.#setCookie(formatSessionId(this.#id), own === 'session' || (own == null && this.cfg.maxAge === 'session') ? undefined : this.#lifetimeMs(own));
      this.#cookieDirty = false;
    }
  }

  #setCookie(value: string, maxAgeMs: number | undefined): void {
    const cookie = serializeCookie(this.cookieName, value, maxAgeMs, { httpOnly: this.cfg.httpOnly, sameSite: this.cfg.sameSite, secure: this.secure });
    const name = `${this.cookieName}=`;
    const previous = this.ctx.response.get('Set-Cookie');
    const others = (Array.isArray(previous) ? previous : previous ? [String(previous)] : []).filter((c) => !c.startsWith(name));
    this.ctx.set('Set-Cookie', [...others, cookie]);
  }
}
