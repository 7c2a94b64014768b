import { randomBytes } from 'node:crypto';
import type { SessionLike } from './session-access.js';
import type { UserLogin } from '../state.js';

/**
 * How a login is stored: a small hot record (what a guard needs: claims, scopes, expiry) and the
 * cold tokens, read only when used. The hot record drops the ID token's protocol claims that mean
 * nothing once it was validated (`nonce`, `at_hash`, `c_hash`, `s_hash`).
 */
interface HotRecord {
  c: UserLogin['claims'];
  s: string;
  e?: number;
  a: number;
  /** The claims that came from userinfo only (their values are in `c`). */
  u?: string[];
  /** `endsAt` and `idleTimeout`. */
  x?: number;
  n?: number;
  /**
   * A random version, new with each write: a replacement is conditional on the exact record it
   * read, and two refreshes within one second could otherwise write identical records (ABA).
   */
  v: string;
}

interface TokenRecord {
  at?: string;
  tt?: string;
  rt?: string;
  it?: string;
}

const SPENT_CLAIMS = new Set(['nonce', 'at_hash', 'c_hash', 's_hash']);

export function encodeHot(login: UserLogin): string {
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(login.claims)) if (!SPENT_CLAIMS.has(k)) claims[k] = v;
  const fromUserInfo = login.userInfo ? Object.keys(login.userInfo).filter((k) => Object.hasOwn(claims, k)) : [];
  const record: HotRecord = {
    c: claims as UserLogin['claims'],
    s: login.scopes.join(' '),
    ...(login.expiresAt !== undefined ? { e: login.expiresAt } : {}),
    a: login.loggedInAt,
    ...(login.userInfo ? { u: fromUserInfo } : {}),
    ...(login.endsAt !== undefined ? { x: login.endsAt } : {}),
    ...(login.idleTimeout !== undefined ? { n: login.idleTimeout } : {}),
    v: randomBytes(6).toString('base64url'),
  };
  return JSON.stringify(record);
}

export function encodeTokens(tokens: UserLogin['tokens']): string {
  const record: TokenRecord = {
    ...(tokens.accessToken !== undefined ? { at: tokens.accessToken } : {}),
    ...(tokens.tokenType !== undefined ? { tt: tokens.tokenType } : {}),
    ...(tokens.refreshToken !== undefined ? { rt: tokens.refreshToken } : {}),
    ...(tokens.idToken !== undefined ? { it: tokens.idToken } : {}),
  };
  return JSON.stringify(record);
}

const parse = (raw: string | null | undefined): Record<string, unknown> | undefined => {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Parsed hot records by their exact stored text, most recent last. */
const parsed = new Map<string, UserLogin>();
const PARSED_MAX = 1000;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * A login's hot part read back, without tokens: parsed once per stored record. A record never
 * changes (every write makes a new one, with a new version), so the text read from the store is
 * the key: nothing is served that the store did not just return. The result is frozen (shared by
 * the requests that read the same record), like the bearer check's cached claims.
 */
export function decodeHotLogin(rawHot: string | null | undefined): UserLogin | undefined {
  if (!rawHot) return undefined;
  let login = parsed.get(rawHot);
  if (login) {
    // Most recently used last: re-insert.
    parsed.delete(rawHot);
    parsed.set(rawHot, login);
    return login;
  }
  login = decodeLogin(rawHot);
  if (!login) return undefined;
  deepFreeze(login);
  if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value!);
  parsed.set(rawHot, login);
  return login;
}

/** A stored login read back (tokens when `rawTokens` is given), or `undefined` for anything malformed. */
export function decodeLogin(rawHot: string | null | undefined, rawTokens?: string | null): UserLogin | undefined {
  const hot = parse(rawHot);
  const claims = hot?.c as UserLogin['claims'] | undefined;
  if (!hot || typeof claims !== 'object' || claims === null || typeof claims.sub !== 'string' || typeof hot.s !== 'string' || typeof hot.a !== 'number') return undefined;
  const tokens = parse(rawTokens) ?? {};
  const userInfo = Array.isArray(hot.u) ? Object.fromEntries((hot.u as string[]).filter((k) => Object.hasOwn(claims, k)).map((k) => [k, claims[k]])) : undefined;
  return {
    claims,
    scopes: hot.s ? hot.s.split(' ') : [],
    ...(typeof hot.e === 'number' ? { expiresAt: hot.e } : {}),
    ...(userInfo ? { userInfo } : {}),
    loggedInAt: hot.a,
    ...(typeof hot.x === 'number' ? { endsAt: hot.x } : {}),
    ...(typeof hot.n === 'number' ? { idleTimeout: hot.n } : {}),
    tokens: {
      ...(str(tokens.at) !== undefined ? { accessToken: str(tokens.at) } : {}),
      ...(str(tokens.tt) !== undefined ? { tokenType: str(tokens.tt) } : {}),
      ...(str(tokens.rt) !== undefined ? { refreshToken: str(tokens.rt) } : {}),
      ...(str(tokens.it) !== undefined ? { idToken: str(tokens.it) } : {}),
    },
  };
}

/** How often a login's use is recorded, at most (ms): not on every request. */
export const USE_MARK_INTERVAL_MS = 60_000;

/**
 * Whether `login`, last used at `usedAt` (ms; its completion when never recorded), has ended at
 * `now` (ms): past its absolute lifetime or idle for longer than its idle timeout.
 */
export function loginEnded(login: UserLogin, usedAt: number | undefined, now: number): boolean {
  if (login.endsAt !== undefined && login.endsAt * 1000 <= now) return true;
  const lastUse = usedAt ?? login.loggedInAt * 1000;
  return login.idleTimeout !== undefined && lastUse + login.idleTimeout * 1000 <= now;
}

// --- koa-session (a session blob of the user's own koa-session): the logins under one key ---

const LOGINS_KEY = 'openid';

function logins(session: SessionLike): Record<string, UserLogin> | undefined {
  const value = session[LOGINS_KEY];
  return typeof value === 'object' && value !== null ? (value as Record<string, UserLogin>) : undefined;
}

export function readLogin(session: SessionLike | null | undefined, name: string): UserLogin | undefined {
  if (!session) return undefined;
  const login = logins(session)?.[name];
  return login && typeof login === 'object' && typeof login.claims?.sub === 'string' ? login : undefined;
}

export function writeLogin(session: SessionLike, name: string, login: UserLogin): void {
  session[LOGINS_KEY] = { ...logins(session), [name]: login };
}

/** Removes one provider's login; returns whether there was one. */
export function removeLogin(session: SessionLike, name: string): boolean {
  const all = logins(session);
  if (!all || !(name in all)) return false;
  const { [name]: _removed, ...rest } = all;
  if (Object.keys(rest).length) session[LOGINS_KEY] = rest;
  else delete session[LOGINS_KEY];
  return true;
}
