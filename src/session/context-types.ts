/**
 * Types `ctx.session` (koa-session 7 does not add it to Koa's context types itself).
 */

/** The methods and accessors koa-session puts on every session object. */
export interface SessionMethods {
  /** `true` when this request started without a stored session. */
  readonly isNew: boolean;
  /** `true` when the session holds any data. */
  readonly populated: boolean;
  /** How many keys the session holds. */
  readonly length: number;
  /**
   * This session's lifetime in milliseconds, or `'session'` for a browser-session cookie.
   * Setting it forces a save at the end of the request.
   */
  maxAge: number | 'session' | undefined;
  /** The session id (the store key without the prefix). Stale right after `regenerate()`. */
  readonly externalKey: string | undefined;
  /** Saves the session at the end of the request even if unchanged. */
  save(): Promise<void>;
  /**
   * Destroys the stored session and its cookie, then saves the data under a new random id.
   * Call it on login: it prevents session fixation (an id planted before login stays anonymous).
   */
  regenerate(): Promise<void>;
  /** Saves now (only needed with `autoCommit: false`). */
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
