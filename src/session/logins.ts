import type { Context } from 'koa';
import type { UserLogin } from '../state.js';
import { KoaSessionLogins } from './koa-session-logins.js';
import { NativeLogins } from './native-logins.js';
import type { SettledLogin, Transaction } from './pending.js';
import { sessionOfContext } from './request-session.js';
import { sessionOf } from './session-access.js';

/** What became of a replacement of a stored login (a refresh): another request may have changed or ended it first. */
export type Replaced = 'replaced' | 'changed' | 'gone';

/**
 * The logins and pending logins of one request's session: what the login flow, the guards and
 * refresh use. The built-in sessions ({@link NativeLogins}) keep each part in a field of its own
 * and write each change atomically; a koa-session of the app's own ({@link KoaSessionLogins})
 * keeps them in its session object, saved whole at the end of the request.
 */
export interface SessionLogins {
  /** The browser holds no session (yet). */
  readonly isNew: boolean;
  /** A provider's login: the hot part (claims, scopes, expiry), and its tokens when asked. */
  login(name: string, withTokens?: boolean): Promise<UserLogin | undefined>;
  /** Keeps a login in progress under its `state` (dropping expired and surplus ones); a silent one is also remembered as tried. */
  startLogin(state: string, tx: Transaction, ttlMs: number, max: number): Promise<void>;
  /** Whether a silent login (`prompt=none`) with this provider was started in this session. */
  silentTried(name: string): Promise<boolean>;
  /** Takes the login in progress of `state` out, once: concurrent callbacks get it at most once. */
  takeLogin(state: string, ttlMs: number): Promise<Transaction | undefined>;
  /** What became of a login that is no longer pending (completed or superseded), within `ttlMs`. */
  settled(state: string, ttlMs: number): Promise<SettledLogin | undefined>;
  /**
   * Stores a completed login, drops every other pending one, and renews the session id, in one
   * atomic step; indexes it by provider session (`sid`) and subject (`sub`).
   */
  completeLogin(state: string, tx: Transaction, login: UserLogin, ttlMs: number): Promise<void>;
  /** Replaces the login read earlier in this request (with its tokens), unless another request changed or ended it meanwhile. */
  replaceLogin(name: string, login: UserLogin): Promise<Replaced>;
  /** A provider's login with its tokens, read from the store again (another request may have changed it). */
  reread(name: string): Promise<UserLogin | undefined>;
  /**
   * Another request of this process refreshed this session's login to `login`: this request's
   * view follows (read again from the store, or taken over where the session is this request's copy).
   */
  adopt(name: string, login: UserLogin): Promise<UserLogin | undefined>;
  /**
   * Takes this login's refresh lock for `ttlMs` under the fencing value `owner`: `true` when taken.
   * Across processes with the built-in sessions; a koa-session of the app's own has no shared lock
   * (its requests only share a refresh within one process).
   */
  lock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock when `owner` still holds it. */
  unlock(name: string, owner: string): Promise<void>;
  /**
   * Ends a provider's login in this session; whether there was one. `unchanged`: only the login
   * this request read (with its tokens) before, not one another request stored meanwhile.
   */
  removeLogin(name: string, options?: { unchanged?: boolean }): Promise<boolean>;
  /** Remembers a logout sent to the provider under its `state`, for `ttlMs`. */
  startLogout(state: string, provider: string, ttlMs: number): Promise<void>;
  /** Takes the logout of `state` out, once: the provider it was sent to, or `undefined`. */
  takeLogout(state: string, ttlMs: number): Promise<string | undefined>;
}

/** The logins of requests served by koa-session (the built-in sessions keep theirs on the request's session). */
const koaSessionLogins = new WeakMap<Context, SessionLogins>();

/**
 * The request's logins: the built-in session's, else those kept in a koa-session of the app's own
 * (with a store: tokens never go into a cookie). No session at all is a setup mistake (`TypeError`).
 */
export function loginsOf(ctx: Context): SessionLogins {
  const native = sessionOfContext(ctx);
  if (native) return ((native.logins as SessionLogins | undefined) ??= new NativeLogins(native));
  let logins = koaSessionLogins.get(ctx);
  if (!logins) koaSessionLogins.set(ctx, (logins = new KoaSessionLogins(ctx, sessionOf(ctx))));
  return logins;
}

/** The request's logins, or `undefined` when the app has no session middleware (a guard then finds no login). */
export function maybeLoginsOf(ctx: Context): SessionLogins | undefined {
  if (sessionOfContext(ctx)) return loginsOf(ctx);
  return (ctx as { session?: unknown }).session ? loginsOf(ctx) : undefined;
}
