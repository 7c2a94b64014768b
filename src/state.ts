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

declare module 'koa' {
  interface DefaultState {
    /** The logged-in user's claims, set by `required()`, `optional()` and the callback. */
    user?: JWTPayload;
    openid?: OpenIDState;
  }
}
