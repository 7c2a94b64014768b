import { createHash } from 'node:crypto';
import { decodeLogin, loginEnded } from './login-record.js';
import type { SessionStore } from './store.js';
import { CONTENT, HOT, loginFields, USED } from './fields.js';

/** What a stored login is found by: the provider's session (`sid`) or the user (`sub`). */
export type LoginKey = { sid: string } | { sub: string };

const digest = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 32);

/** The index key of a provider's logins with this `sid` or `sub` (hashed: any length, any characters). */
export function indexKey(prefix: string, provider: string, key: LoginKey): string {
  return 'sid' in key ? `${prefix}idx:${provider}:sid:${digest(key.sid)}` : `${prefix}idx:${provider}:sub:${digest(key.sub)}`;
}

/** The index keys of a login with these claims. */
export function indexKeysOf(prefix: string, provider: string, claims: { sub: string; sid?: unknown }): string[] {
  return [
    ...(typeof claims.sid === 'string' && claims.sid ? [indexKey(prefix, provider, { sid: claims.sid })] : []),
    indexKey(prefix, provider, { sub: claims.sub }),
  ];
}

/** Indexes the session `tag` under the login's `sid` and `sub` until `expiresAt` (ms since the epoch). */
export async function indexLogin(store: SessionStore, provider: string, claims: { sub: string; sid?: unknown }, tag: string, expiresAt: number): Promise<void> {
  await Promise.all(indexKeysOf(store.prefix, provider, claims).map((key) => store.indexAdd(key, tag, expiresAt)));
}

export async function unindexLogin(store: SessionStore, provider: string, claims: { sub: string; sid?: unknown }, tag: string): Promise<void> {
  await Promise.all(indexKeysOf(store.prefix, provider, claims).map((key) => store.indexRemove(key, tag)));
}

/**
 * The sessions (their tags) that may hold a login of `provider` with this `sid` or `sub`, from
 * every app instance sharing the store. An entry can outlive its login (a logout elsewhere): read
 * the login before acting on it.
 */
export function sessionsWithLogin(store: SessionStore, provider: string, key: LoginKey): Promise<string[]> {
  return store.indexMembers(indexKey(store.prefix, provider, key));
}

/**
 * Ends the logins of `provider` with this `sid` (or, given only a `sub`, every login of that
 * user) in every session that holds one, on every instance: what a logout from the provider asks.
 * A session whose login changed meanwhile (another `sid` after a new login) is left alone; each
 * ended login is a conditional change of its own fields, so no request that read the session
 * before can bring it back. Resolves to the number of logins ended.
 */
export async function endLogins(store: SessionStore, provider: string, key: LoginKey): Promise<number> {
  const hot = HOT + provider;
  const indexed = indexKey(store.prefix, provider, key);
  let ended = 0;
  for (const tag of await store.indexMembers(indexed)) {
    const [raw] = (await store.read(tag, [hot])).values;
    const login = decodeLogin(raw);
    const matches = login && ('sid' in key ? login.claims.sid === key.sid : login.claims.sub === key.sub);
    if (matches && (await store.change(tag, { when: [{ field: hot, value: raw! }], del: loginFields(provider), keepIf: CONTENT })).done) {
      ended++;
      await unindexLogin(store, provider, login.claims, tag);
    } else if (!login) {
      await store.indexRemove(indexed, tag);
    }
  }
  return ended;
}

/** One session that holds a login of a user, as `provider.sessionsOf(sub)` lists it. */
export interface UserSession {
  /** An opaque id of the session (a hash: it cannot be used as a session id). */
  id: string;
  /** When the login completed (seconds since the epoch). */
  loggedInAt: number;
  /** When a request last used it (seconds since the epoch; recorded at most once a minute). */
  lastUsedAt: number;
  /** The provider's session id (`sid`), when it sent one. */
  sid?: string;
}

/** The sessions that hold a live login of `provider` for `sub`, on every instance, most recently used first. */
export async function listLogins(store: SessionStore, provider: string, sub: string): Promise<UserSession[]> {
  const found: UserSession[] = [];
  const now = Date.now();
  for (const tag of await store.indexMembers(indexKey(store.prefix, provider, { sub }))) {
    const [raw, used] = (await store.read(tag, [HOT + provider, USED + provider])).values;
    const login = decodeLogin(raw);
    const usedAt = Number(used) || undefined;
    if (!login || login.claims.sub !== sub || loginEnded(login, usedAt, now)) continue;
    found.push({
      id: digest(`session:${tag}`),
      loggedInAt: login.loggedInAt,
      lastUsedAt: Math.floor((usedAt ?? login.loggedInAt * 1000) / 1000),
      ...(typeof login.claims.sid === 'string' ? { sid: login.claims.sid } : {}),
    });
  }
  return found.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
}
