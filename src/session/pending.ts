import { hash } from 'node:crypto';
import type { SessionLike } from './session-access.js';
import { OpenIDError } from '../errors.js';

/**
 * A login in progress: created by the login route, consumed (once) by the callback. Kept in the
 * server-side session under its `state`, so it is bound to this browser session and never
 * visible to the browser.
 *
 * The functions below keep pending logins inside a koa-session blob (a session of the app's own
 * koa-session); the built-in sessions keep each in a field of its own (native-logins.ts).
 */
export interface Transaction {
  /** Provider name that started it: a callback for another provider fails. */
  provider: string;
  /** PKCE code_verifier (RFC 7636). */
  verifier: string;
  nonce: string;
  /** The exact redirect_uri sent in the authorization request (reused for the token request). */
  redirectUri: string;
  returnTo: string;
  /** Scopes requested, space separated. */
  scope: string;
  /** max_age sent, if any (seconds). */
  maxAge?: number;
  /** Sent with `prompt=none`: the provider's "no, not silently" answers return to `returnTo` logged out. */
  silent?: true;
  /** Creation time, ms since the epoch. */
  createdAt: number;
}

const PENDING_KEY = 'openid:pending';
const LIFETIME_KEY = 'openid:maxAge';
const STATE_SYNTAX = /^[A-Za-z0-9_-]{16,128}$/;

function pending(session: SessionLike): Record<string, Transaction> {
  const value = session[PENDING_KEY];
  return typeof value === 'object' && value !== null ? (value as Record<string, Transaction>) : {};
}

function store(session: SessionLike, txs: Record<string, Transaction>): void {
  if (Object.keys(txs).length) session[PENDING_KEY] = txs;
  else delete session[PENDING_KEY];
}

/**
 * Which of `pending` (by key) to drop before adding a login of `provider`: the expired ones, and
 * the oldest of `provider` so that at most `max` remain with the new one.
 */
export function pendingToDrop(pending: Record<string, Transaction>, provider: string, ttlMs: number, max: number): string[] {
  const now = Date.now();
  const expired = Object.entries(pending).filter(([, t]) => !(now - t.createdAt < ttlMs)).map(([k]) => k);
  const mine = Object.entries(pending)
    .filter(([k, t]) => t.provider === provider && !expired.includes(k))
    .sort(([, a], [, b]) => a.createdAt - b.createdAt);
  return [...expired, ...mine.slice(0, Math.max(0, mine.length - max + 1)).map(([k]) => k)];
}

/** Adds a transaction, dropping what {@link pendingToDrop} says. */
export function addTransaction(session: SessionLike, state: string, tx: Transaction, ttlMs: number, max: number): void {
  const all = pending(session);
  const drop = new Set(pendingToDrop(all, tx.provider, ttlMs, max));
  store(session, Object.fromEntries([...Object.entries(all).filter(([s]) => !drop.has(s)), [state, tx]]));
}

/** A `state` as this library issues them, else `invalid_state`. */
export function checkStateSyntax(state: unknown): asserts state is string {
  if (typeof state !== 'string' || !STATE_SYNTAX.test(state)) {
    throw new OpenIDError('invalid_state', 'the callback has no valid "state" parameter');
  }
}

/** The pending transaction for `state`, left in place, or `undefined`. Fails with `invalid_state` for a missing or malformed state. */
export function peekTransaction(session: SessionLike, state: unknown): Transaction | undefined {
  checkStateSyntax(state);
  const txs = pending(session);
  return Object.hasOwn(txs, state) ? txs[state] : undefined;
}

/** Removes and returns the transaction for `state` (`undefined`: not pending in this session). */
export function removeTransaction(session: SessionLike, state: string): Transaction | undefined {
  const tx = peekTransaction(session, state);
  if (!tx) return undefined;
  const { [state]: _taken, ...rest } = pending(session);
  store(session, rest);
  return tx;
}

/**
 * A taken transaction may complete only for the provider that issued it and within `ttlMs`: else
 * `invalid_state` (the transaction is consumed either way).
 */
export function checkTaken(tx: Transaction, provider: string, ttlMs: number): Transaction {
  if (tx.provider !== provider) {
    throw new OpenIDError('invalid_state', '"state" was issued for another provider');
  }
  if (Date.now() - tx.createdAt >= ttlMs) {
    throw new OpenIDError('invalid_state', 'the login took too long: start it again');
  }
  return tx;
}

/**
 * What became of a login that is no longer pending: it `completed`, or it was `superseded` (dropped
 * when another login of the session completed first). Kept for `loginTimeout` so that a reload of
 * the callback, or a late second tab, gets a clear answer instead of a bare error.
 */
export interface SettledLogin {
  provider: string;
  returnTo: string;
  outcome: 'completed' | 'superseded';
  /** When it settled, ms since the epoch. */
  at: number;
}

const SETTLED_KEY = 'openid:settled';
const MAX_SETTLED = 20;
/** Settled logins are found by a hash of their state (a used state is no secret, but need not be kept either). */
export const stateId = (state: string) => hash('sha256', state, 'base64url').slice(0, 22);

function settledLogins(session: SessionLike): Record<string, SettledLogin> {
  const value = session[SETTLED_KEY];
  return typeof value === 'object' && value !== null ? (value as Record<string, SettledLogin>) : {};
}

/** The settled login of `state` in this session (not older than `ttlMs`), or `undefined`. */
export function settledLogin(session: SessionLike, state: string, ttlMs: number): SettledLogin | undefined {
  const all = settledLogins(session);
  const id = stateId(state);
  const found = Object.hasOwn(all, id) ? all[id] : undefined;
  return found && Date.now() - found.at < ttlMs ? found : undefined;
}

/**
 * The settled logins after the login of `id` (a {@link stateId}) completed: every other pending
 * login (of any provider) becomes `superseded`, expired records go, at most {@link MAX_SETTLED}
 * stay. `pending` and `settled` are keyed by state id.
 */
export function settle(
  pending: Record<string, Transaction>,
  settled: Record<string, SettledLogin>,
  id: string,
  tx: Transaction,
  ttlMs: number,
): { settled: Record<string, SettledLogin>; dropped: string[] } {
  const now = Date.now();
  const entries: Array<[string, SettledLogin]> = Object.entries(settled).filter(([, s]) => now - s.at < ttlMs).sort(([, a], [, b]) => a.at - b.at);
  for (const [other, t] of Object.entries(pending)) {
    if (other !== id) entries.push([other, { provider: t.provider, returnTo: t.returnTo, outcome: 'superseded', at: now }]);
  }
  entries.push([id, { provider: tx.provider, returnTo: tx.returnTo, outcome: 'completed', at: now }]);
  const kept = Object.fromEntries(entries.slice(-MAX_SETTLED));
  return { settled: kept, dropped: Object.keys(settled).filter((k) => !Object.hasOwn(kept, k)) };
}

/**
 * A login completed: every other login pending in the session (of any provider) is dropped and
 * remembered as superseded, so a session planted with someone else's pending login cannot have
 * it completed later over this one (the first login to finish wins).
 */
export function settleLogins(session: SessionLike, state: string, tx: Transaction, ttlMs: number): void {
  const byId = Object.fromEntries(Object.entries(pending(session)).map(([s, t]) => [stateId(s), t]));
  session[SETTLED_KEY] = settle(byId, settledLogins(session), stateId(state), tx, ttlMs).settled;
  store(session, {});
}

/**
 * A session that only exists because a login started (an anonymous visitor, maybe a bot) lives
 * no longer than the login may take; the configured lifetime is restored when a login completes.
 */
export function shortenNewSession(session: SessionLike & { isNew?: boolean; maxAge?: number | 'session' }, ttlMs: number): void {
  if (session.isNew !== true || typeof session.maxAge !== 'number' || session.maxAge <= ttlMs) return;
  session[LIFETIME_KEY] = session.maxAge;
  session.maxAge = ttlMs;
}

export function restoreSessionLifetime(session: SessionLike & { maxAge?: number | 'session' }): void {
  const lifetime = session[LIFETIME_KEY];
  if (typeof lifetime !== 'number') return;
  delete session[LIFETIME_KEY];
  session.maxAge = lifetime;
}
