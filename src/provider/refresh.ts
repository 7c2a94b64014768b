import type { Context } from 'koa';
import { hash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { debug } from '../debug.js';
import type { Provider } from './discovery.js';
import { OpenIDError, isOpenIDError } from '../errors.js';
import { loginsOf, maybeLoginsOf, type SessionLogins } from '../session/logins.js';
import type { UserLogin } from '../state.js';
import type { ResolvedOptions } from '../options.js';
import { refreshGrant } from './refresh-grant.js';

/**
 * When to refresh, and exactly once. Providers that rotate refresh tokens (Keycloak with "Revoke
 * Refresh Token", RFC 9700 §4.14.2) refuse a second use of the old one and may end the whole
 * provider session for it: two requests (tabs, instances) that both find a token expiring must not
 * both spend it. So a refresh runs once per login at a time:
 * - in one process, requests holding the same refresh token share one refresh (`flights`);
 * - across processes, the one refresh holds the login's lock in the session store (a random
 *   fencing value: released by its owner only, expiring on its own if the owner dies); the others
 *   poll the stored login until it changed, and use the new tokens.
 * The write itself is conditional on the login it refreshed as well (see `replaceLogin`): a holder
 * whose lock expired meanwhile cannot overwrite a newer login.
 */

/** Refreshes in flight in this process, by the hash of the refresh token they spend. */
const flights = new Map<string, Promise<UserLogin>>();

/**
 * How long a refresh that rotated the refresh token stays shared after it finished (ms): a request
 * that read its session before the new tokens were stored asks with the old token a little later,
 * and a koa-session of the app's own (read once per request) has no newer copy to read.
 */
const SHARED_AFTER_MS = 10_000;
/** How often a request waiting for another process's refresh reads the login again (ms). */
const POLL_MS = 50;
/** The lock outlives the holder's provider calls (the token request, and a JWKS fetch for a new key: each bounded by `timeout`) by this much (ms). */
const LOCK_MARGIN_MS = 2_000;

const nowSeconds = () => Date.now() / 1000;

/** The access token expires within `skew` seconds (or has expired). */
export const isDue = (login: UserLogin, skew: number): boolean => login.expiresAt !== undefined && login.expiresAt - skew <= nowSeconds();

/** Another request refreshed (or otherwise replaced) the login read as `before`. */
const replaced = (current: UserLogin, before: UserLogin): boolean =>
  current.tokens.accessToken !== before.tokens.accessToken ||
  current.tokens.refreshToken !== before.tokens.refreshToken ||
  current.expiresAt !== before.expiresAt;

const ended = () => new OpenIDError('login_required', 'the login ended meanwhile: log in again');

/** Refreshes this session's login of `opts.name` now (`provider.refresh(ctx)`), once across requests. */
export async function refreshLogin(ctx: Context, opts: ResolvedOptions, provider: Provider): Promise<UserLogin> {
  const logins = loginsOf(ctx);
  const login = await logins.login(opts.name, true);
  if (!login) throw new OpenIDError('login_required', 'log in first');
  return refreshShared(logins, opts, provider, login);
}

/**
 * The login of `opts.name` in this session, its access token refreshed first when it expires within
 * `refreshSkew` and a refresh token is held (guards: with `autoRefresh`). `undefined` without a
 * login. A login that needs no refresh costs one read of its hot part.
 */
export async function currentLogin(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<UserLogin | undefined> {
  const logins = maybeLoginsOf(ctx);
  const login = await logins?.login(opts.name);
  if (!login || !opts.autoRefresh || !isDue(login, opts.refreshSkew)) return login;
  const full = await logins!.login(opts.name, true);
  return full && freshLogin(logins!, opts, getProvider, full);
}

/**
 * A valid access token of this session's login (`provider.accessToken(ctx)`), refreshed first when
 * it expires within `refreshSkew`. `login_required` without a login, or when the token expired and
 * cannot be refreshed.
 */
export async function accessToken(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<{ token: string; sub: string }> {
  const logins = loginsOf(ctx);
  const stored = await logins.login(opts.name, true);
  if (!stored) throw new OpenIDError('login_required', 'log in first');
  const login = await freshLogin(logins, opts, getProvider, stored);
  if (!login.tokens.accessToken) throw new OpenIDError('login_required', 'the login has no access token');
  if (isDue(login, 0)) throw new OpenIDError('login_required', 'the access token expired and the login has no refresh token: log in again');
  return { token: login.tokens.accessToken, sub: login.claims.sub };
}

/**
 * `login` (with tokens), refreshed when due and refreshable. A refresh started early (the token
 * still works for a while) that fails because the provider is unreachable leaves the login as it
 * is: the request goes on with the current token, and a later one tries again.
 */
async function freshLogin(logins: SessionLogins, opts: ResolvedOptions, getProvider: () => Promise<Provider>, login: UserLogin): Promise<UserLogin> {
  if (!login.tokens.refreshToken || !isDue(login, opts.refreshSkew)) return login;
  try {
    return await refreshShared(logins, opts, await getProvider(), login);
  } catch (err) {
    if (!isOpenIDError(err) || err.code === 'login_required' || isDue(login, 0)) throw err;
    debug('refresh of "%s" failed (%s); its access token is still valid and is used meanwhile', opts.name, err.code);
    return login;
  }
}

/** One refresh per refresh token in this process: a request that finds one running waits for it. */
async function refreshShared(logins: SessionLogins, opts: ResolvedOptions, provider: Provider, login: UserLogin): Promise<UserLogin> {
  const refreshToken = login.tokens.refreshToken;
  if (!refreshToken) throw new OpenIDError('login_required', 'the login has no refresh token: log in again');
  const key = hash('sha256', refreshToken, 'base64url');
  const running = flights.get(key);
  if (running) {
    let result: UserLogin;
    try {
      result = await running;
    } catch (err) {
      // This request's own copy of a koa-session must not write the refused login back.
      if (isOpenIDError(err) && err.code === 'login_required') await logins.removeLogin(opts.name);
      throw err;
    }
    const adopted = await logins.adopt(opts.name, result);
    if (!adopted) throw ended();
    return adopted;
  }
  const flight = refreshOnce(logins, opts, provider, login);
  flights.set(key, flight);
  flight.then(
    (updated) => {
      if (updated.tokens.refreshToken !== refreshToken) setTimeout(() => flights.delete(key), SHARED_AFTER_MS).unref();
      else flights.delete(key);
    },
    () => flights.delete(key),
  );
  return flight;
}

/**
 * Refreshes `login` under its lock, or waits for the process holding the lock and takes its result.
 * A wait is bounded by the lock's lifetime (the token request's timeout and a margin): past it,
 * `504 provider_unavailable`, and the login stays.
 */
async function refreshOnce(logins: SessionLogins, opts: ResolvedOptions, provider: Provider, login: UserLogin): Promise<UserLogin> {
  const owner = randomBytes(16).toString('base64url');
  const lockMs = 2 * opts.timeout * 1000 + LOCK_MARGIN_MS;
  const deadline = Date.now() + lockMs;
  for (;;) {
    if (await logins.lock(opts.name, owner, lockMs)) {
      try {
        // Read again under the lock: the refresh that held it before may have just stored its tokens.
        const current = await logins.reread(opts.name);
        if (!current) throw ended();
        return replaced(current, login) ? current : await refreshGrant(logins, opts, provider, current);
      } finally {
        // A lock that cannot be released (the store failed) expires by itself.
        await logins.unlock(opts.name, owner).catch(() => undefined);
      }
    }
    if (Date.now() >= deadline) {
      throw new OpenIDError('provider_unavailable', 'the refresh of this login by another request did not finish in time', { status: 504 });
    }
    await sleep(POLL_MS);
    const current = await logins.reread(opts.name);
    if (!current) throw ended();
    if (replaced(current, login)) return current;
  }
}
