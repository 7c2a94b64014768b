import type { Context } from 'koa';
import { OpenIDError } from '../errors.js';

/** RFC 6750 §2.1: `Bearer` 1*SP b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const MAX_HEADER = 16 * 1024;

/**
 * The bearer token of the request's `Authorization` header (RFC 6750 §2.1), or `undefined` when
 * there is none (no header, or another scheme such as Basic). Refused with `invalid_request` (401): a malformed header, several tokens, several
 * `Authorization` headers, and tokens in the query string (§2.3: URIs end up in logs and history).
 */
export function readBearer(ctx: Context): string | undefined {
  // Only a URL with a query can carry a token there: most API calls have none, and are not parsed.
  if (ctx.req.url?.includes('?') && new URLSearchParams(ctx.querystring).has('access_token')) {
    throw new OpenIDError('invalid_request', 'access tokens are only accepted in the Authorization header', { status: 401 });
  }
  // Several Authorization headers show only in the raw lines (Node keeps the first in `headers`).
  const raw = ctx.req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++;
  if (count > 1) throw new OpenIDError('invalid_request', 'send exactly one Authorization header', { status: 401 });
  // The value from `ctx.headers`, so that a middleware that removes or sets it is obeyed.
  const header = ctx.get('authorization');
  if (!header) return undefined;
  if (header.length > MAX_HEADER) throw new OpenIDError('invalid_request', 'the Authorization header is too long', { status: 401 });
  // Another scheme (Basic, ...) is no bearer token: "no authentication information" (RFC 6750 §3.1).
  if (!/^bearer(\s|$)/i.test(header)) return undefined;
  const match = BEARER.exec(header);
  if (!match) throw new OpenIDError('invalid_request', 'the Authorization header is not "Bearer <token>"', { status: 401 });
  return match[1];
}

/** RFC 6750 §3: a quoted-string value may not hold `"` or `\`, nor anything outside printable ASCII. */
const quoted = (s: string) => s.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');

/** The `WWW-Authenticate` challenge for an error (none of the error attributes when no token was sent). */
export function bearerChallenge(realm: string, err?: OpenIDError, requiredScopes?: readonly string[]): string {
  const parts = [`Bearer realm="${quoted(realm)}"`];
  if (err) {
    const error = err.code === 'insufficient_scope' ? 'insufficient_scope' : err.code === 'invalid_request' ? 'invalid_request' : 'invalid_token';
    parts.push(`error="${error}"`, `error_description="${quoted(err.message)}"`);
    if (err.code === 'insufficient_scope' && requiredScopes?.length) parts.push(`scope="${quoted(requiredScopes.join(' '))}"`);
  }
  return parts.join(', ');
}
