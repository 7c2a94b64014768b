import type { SessionLike } from './session-access.js';
import type { JWTPayload } from 'jose';

/**
 * One provider's login as kept in the server-side session. Tokens live only here (in the session
 * store), never in a cookie. Times are absolute, in seconds since the epoch, so the record
 * survives JSON.
 */
export interface UserLogin {
  /** The validated ID token claims. */
  claims: JWTPayload & { sub: string };
  /** The scopes granted so far (the union over progressive-consent logins of the same user). */
  scopes: string[];
  /** When the access token expires (seconds since the epoch), when the provider said. */
  expiresAt?: number;
  /** When this login completed (seconds since the epoch). */
  loggedInAt: number;
  tokens: {
    accessToken?: string;
    tokenType?: string;
    refreshToken?: string;
    idToken?: string;
  };
}

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

/** Union of scope lists, in first-seen order. */
export function unionScopes(...lists: Array<readonly string[] | undefined>): string[] {
  return [...new Set(lists.flatMap((l) => l ?? []))];
}
