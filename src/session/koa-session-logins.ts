import type { Context } from 'koa';
import type { UserLogin } from '../state.js';
import { claimOnce } from './claim-once.js';
import { loginEnded, readLogin, removeLogin, USE_MARK_INTERVAL_MS, writeLogin } from './login-record.js';
import type { Replaced, SessionLogins } from './logins.js';
import {
  addTransaction, removeTransaction, restoreSessionLifetime, settledLogin, settleLogins, shortenNewSession, stateId,
  type SettledLogin, type Transaction,
} from './pending.js';
import type { SessionData } from './session-access.js';

/**
 * Logins kept in a koa-session of the app's own (e.g. with koa-redis): everything lives in the one
 * session object, written whole at the end of the request. What it cannot do: writes of concurrent
 * requests may undo one another (a stale request writes back old tokens or an ended login), and
 * logins are not indexed by provider session (no back-channel logout). README, "Sessions".
 */
const LOGOUTS_KEY = 'openid:logouts';
/** The providers a silent login was tried with. */
const SILENT_KEY = 'openid:silent';

export class KoaSessionLogins implements SessionLogins {
  readonly #ctx: Context;
  readonly #session: SessionData;

  constructor(ctx: Context, session: SessionData) {
    this.#ctx = ctx;
    this.#session = session;
  }

  get isNew(): boolean {
    return this.#session.isNew === true;
  }

  /** The login unless it ended by its lifetimes (then it is removed); a use is recorded at most once a minute. */
  async login(name: string): Promise<UserLogin | undefined> {
    const login = readLogin(this.#session, name);
    if (!login) return undefined;
    const now = Date.now();
    const usedAt = login.lastUsedAt === undefined ? undefined : login.lastUsedAt * 1000;
    if (loginEnded(login, usedAt, now)) {
      removeLogin(this.#session, name);
      return undefined;
    }
    if (now - (usedAt ?? login.loggedInAt * 1000) < USE_MARK_INTERVAL_MS) return login;
    const used = { ...login, lastUsedAt: Math.floor(now / 1000) };
    writeLogin(this.#session, name, used);
    return used;
  }

  async startLogin(state: string, tx: Transaction, ttlMs: number, max: number): Promise<void> {
    shortenNewSession(this.#session, ttlMs);
    addTransaction(this.#session, state, tx, ttlMs, max);
    if (tx.silent) this.#session[SILENT_KEY] = { ...(this.#session[SILENT_KEY] as object | undefined), [tx.provider]: true };
  }

  async silentTried(name: string): Promise<boolean> {
    const tried = this.#session[SILENT_KEY];
    return typeof tried === 'object' && tried !== null && Object.hasOwn(tried, name);
  }

  async takeLogin(state: string, ttlMs: number): Promise<Transaction | undefined> {
    if (!removeTransaction({ ...this.#session }, state)) return undefined;
    // Two concurrent callbacks of one login each hold their own copy of the session: the store decides.
    if (!(await claimOnce(this.#ctx, `state:${stateId(state)}`, ttlMs))) return undefined;
    return removeTransaction(this.#session, state);
  }

  async settled(state: string, ttlMs: number): Promise<SettledLogin | undefined> {
    return settledLogin(this.#session, state, ttlMs);
  }

  async completeLogin(state: string, tx: Transaction, login: UserLogin, ttlMs: number): Promise<void> {
    writeLogin(this.#session, tx.provider, login);
    settleLogins(this.#session, state, tx, ttlMs);
    restoreSessionLifetime(this.#session);
    await this.#session.regenerate();
  }

  async replaceLogin(name: string, login: UserLogin): Promise<Replaced> {
    if (!readLogin(this.#session, name)) return 'gone';
    writeLogin(this.#session, name, login);
    return 'replaced';
  }

  /** The session is this request's copy, loaded once: it holds what it held. */
  async reread(name: string): Promise<UserLogin | undefined> {
    return readLogin(this.#session, name);
  }

  async adopt(name: string, login: UserLogin): Promise<UserLogin | undefined> {
    return (await this.replaceLogin(name, login)) === 'replaced' ? login : undefined;
  }

  /** No lock to share: concurrent requests share a refresh within the process only (see provider/refresh.ts). */
  async lock(): Promise<boolean> {
    return true;
  }

  async unlock(): Promise<void> {}

  async removeLogin(name: string): Promise<boolean> {
    return removeLogin(this.#session, name);
  }

  async startLogout(state: string, provider: string): Promise<void> {
    const logouts = (this.#session[LOGOUTS_KEY] as Record<string, { provider: string; at: number }> | undefined) ?? {};
    this.#session[LOGOUTS_KEY] = { ...logouts, [stateId(state)]: { provider, at: Date.now() } };
  }

  async takeLogout(state: string, ttlMs: number): Promise<string | undefined> {
    const logouts = (this.#session[LOGOUTS_KEY] as Record<string, { provider: string; at: number }> | undefined) ?? {};
    const id = stateId(state);
    const taken = Object.hasOwn(logouts, id) ? logouts[id] : undefined;
    if (!taken) return undefined;
    const { [id]: _taken, ...rest } = logouts;
    if (Object.keys(rest).length) this.#session[LOGOUTS_KEY] = rest;
    else delete this.#session[LOGOUTS_KEY];
    return Date.now() - taken.at < ttlMs ? taken.provider : undefined;
  }
}
