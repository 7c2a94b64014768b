import type { JWTPayload } from 'jose';

/** What guards and the bearer check put in `ctx.state.openid`. */
export interface OpenIDState {
  /** The provider's `name`. */
  provider: string;
  /** ID token claims (session logins) or access token claims (bearer). */
  claims: JWTPayload & { sub?: string };
  /** Granted scopes. */
  scopes: string[];
  /** Access token expiry, seconds since the epoch, when known. */
  expiresAt?: number;
  /** `'session'` for a browser login, `'bearer'` for an `Authorization: Bearer` token. */
  token?: 'session' | 'bearer';
}

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
  /**
   * The claims the userinfo endpoint added at login (option `userInfo`), kept apart so that a
   * refresh, whose new ID token replaces the ID-token claims, keeps them in `claims`.
   */
  userInfo?: Record<string, unknown>;
  /** When this login completed (seconds since the epoch). */
  loggedInAt: number;
  /** When this login ends whatever its use (seconds since the epoch): `absoluteLifetime` after it completed. */
  endsAt?: number;
  /** This login ends after this many seconds without a request that uses it (`idleTimeout`). */
  idleTimeout?: number;
  /** When a request last used this login (seconds since the epoch), recorded at most once a minute. */
  lastUsedAt?: number;
  tokens: {
    accessToken?: string;
    tokenType?: string;
    refreshToken?: string;
    idToken?: string;
  };
}

declare module 'koa' {
  interface DefaultState {
    /** The logged-in user's claims, set by `required()`, `optional()` and the callback. */
    user?: JWTPayload;
    openid?: OpenIDState;
  }
}
