import type { SessionLike } from './session-access.js';
import type { UserLogin } from '../state.js';

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
