/**
 * Types `ctx.session` as `redisSession()` provides it, with koa-session's API (koa-session 7 does
 * not add it to Koa's context types itself).
 */

/** The methods and accessors of every session object (koa-session's, see session.ts). */
export interface SessionMethods {
  /**
   * `true` when this request started without a stored session (when the app data was not loaded:
   * when the browser sent no session cookie).
   */
  readonly isNew: boolean;
  /** `true` when the session holds any data. */
  readonly populated: boolean;
  /** How many keys the session holds. */
  readonly length: number;
  /**
   * This session's lifetime in milliseconds, or `'session'` for a browser-session cookie.
   * Setting it saves the session at the end of the request, and later writes keep it.
   */
  maxAge: number | 'session' | undefined;
  /** The session id as the cookie carries it; it changes with `regenerate()`. */
  readonly externalKey: string | undefined;
  /** Saves the session now, even if unchanged. */
  save(): Promise<void>;
  /**
   * Gives the session a new id; the old one stops working at once, the data and logins stay.
   * Call it when privileges change: an id planted before then stays anonymous (session fixation).
   */
  regenerate(): Promise<void>;
  /** Saves what changed now (the end of the request does it anyway). */
  manuallyCommit(): Promise<void>;
  /** The data that is stored: own enumerable keys without functions or `_`-prefixed keys. */
  toJSON(): Record<string, unknown>;
}

/** `ctx.session`: the app's data (any JSON) plus koa-session's methods. */
export type KoaSession = SessionMethods & Record<string, unknown>;

declare module 'koa' {
  interface DefaultContext {
    /**
     * The session of this request (set by `redisSession()`). Assign `null` to destroy it (logout);
     * reading it afterwards in the same request gives `null`. Assigning an object replaces the data
     * and keeps the session id.
     */
    get session(): KoaSession;
    set session(value: KoaSession | Record<string, unknown> | null);
  }
}
