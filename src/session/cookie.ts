/** The session cookie: read from the `Cookie` header and written as one `Set-Cookie`, without the cookies module's per-request cost. */

export interface CookieAttributes {
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  secure: boolean;
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

/**
 * The request's `Cookie` header, from `rawHeaders`: Node builds `req.headers` on first use, which
 * a request that never needs a header (a page that uses no session) should not pay for.
 */
export function cookieHeader(req: { rawHeaders: string[] }): string | undefined {
  const raw = req.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 6 && name.toLowerCase() === 'cookie') found = found === undefined ? raw[i + 1] : `${found}; ${raw[i + 1]}`;
  }
  return found;
}

/** The first value of cookie `name` in a `Cookie` header (RFC 6265 §5.4: the most specific comes first), or `undefined`. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let at = header.indexOf(name);
  while (at !== -1) {
    const before = at === 0 ? ' ' : header[at - 1];
    if ((before === ' ' || before === ';') && header[at + name.length] === '=') {
      const start = at + name.length + 1;
      const end = header.indexOf(';', start);
      return header.slice(start, end === -1 ? undefined : end).trim();
    }
    at = header.indexOf(name, at + 1);
  }
  return undefined;
}

/** A `Set-Cookie` value for path `/`: `maxAgeMs` gives `Max-Age` and `Expires`, `undefined` a browser-session cookie, `0` deletes it. */
export function serializeCookie(name: string, value: string, maxAgeMs: number | undefined, attrs: CookieAttributes): string {
  let out = `${name}=${value}; Path=/`;
  if (maxAgeMs !== undefined) {
    const seconds = Math.max(0, Math.floor(maxAgeMs / 1000));
    out += `; Max-Age=${seconds}; Expires=${new Date(seconds === 0 ? 0 : Date.now() + seconds * 1000).toUTCString()}`;
  }
  if (attrs.httpOnly) out += '; HttpOnly';
  out += `; SameSite=${SAME_SITE[attrs.sameSite]}`;
  if (attrs.secure) out += '; Secure';
  return out;
}
