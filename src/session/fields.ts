/**
 * The fields of a session's hash (besides `k`, the secret's hash, and `m`, its own lifetime): what
 * each part of the session layer reads and writes by name.
 */

/** The app's `ctx.session` data. */
export const DATA = 'd';
/** A provider's login, hot part (`l:<provider>`): claims, scopes, expiry, lifetimes, a version. */
export const HOT = 'l:';
/** A provider's tokens, cold part (`t:<provider>`). */
export const COLD = 't:';
/** When a provider's login was last used (`u:<provider>`, ms since the epoch), recorded at most once a minute. */
export const USED = 'u:';
/** A pending login, by its state id. */
export const PENDING = 'p:';
/** A settled login (completed or superseded), by its state id. */
export const SETTLED = 's:';
/** A logout sent to the provider, by its state id. */
export const LOGOUT = 'o:';
/** A silent login (`prompt=none`) was tried with this provider (`q:<provider>`): tried once per session. */
export const SILENT = 'q:';
/** Until when the session's logins are indexed (ms since the epoch): see RequestSession's #keepIndexed. */
export const INDEXED = 'i';
/** What a session is kept for: once a logout leaves none of these, the session ends. */
export const CONTENT = [DATA, HOT, PENDING, LOGOUT];
/** The fields of one provider's login. */
export const loginFields = (provider: string): string[] => [HOT + provider, COLD + provider, USED + provider];
