/**
 * One real login with plain HTTP requests, as a browser without JavaScript would do it: GET the
 * guarded URL as a page (`Accept: text/html`), follow every redirect (app → login route →
 * provider → its interaction, which the dev provider finishes by itself → app callback → the
 * guarded URL), keep each origin's cookies. At most `MAX_STEPS` requests of at most 10 s each.
 */

const MAX_STEPS = 25;

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** Cookies per origin (scheme, host and port), with their paths; enough for these logins. */
export class CookieJar {
  readonly #byOrigin = new Map<string, Map<string, Cookie>>();

  store(url: URL, setCookies: string[]): void {
    let jar = this.#byOrigin.get(url.origin);
    if (!jar) this.#byOrigin.set(url.origin, (jar = new Map()));
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      // RFC 6265 §5.1.4 default path: the request path up to its last '/'.
      let path = url.pathname.lastIndexOf('/') > 0 ? url.pathname.slice(0, url.pathname.lastIndexOf('/')) : '/';
      let expired = false;
      for (const attribute of attributes) {
        const at = attribute.indexOf('=');
        const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
        const val = at < 0 ? '' : attribute.slice(at + 1).trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        else if (key === 'max-age' && Number(val) <= 0) expired = true;
        else if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const id = `${name}\0${path}`;
      if (expired || value === '') jar.delete(id);
      else jar.set(id, { name, value, path });
    }
  }

  /** The `Cookie` header for `url` (cookies whose path matches, RFC 6265 §5.1.4). */
  header(url: URL): string {
    const jar = this.#byOrigin.get(url.origin);
    if (!jar) return '';
    const matches = (path: string) =>
      url.pathname === path || (url.pathname.startsWith(path) && (path.endsWith('/') || url.pathname[path.length] === '/'));
    return [...jar.values()]
      .filter((c) => matches(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** The value of cookie `name` for `url`, if any. */
  get(url: URL, name: string): string | undefined {
    return [...(this.#byOrigin.get(url.origin)?.values() ?? [])].find((c) => c.name === name)?.value;
  }
}

export interface LoginResult {
  jar: CookieJar;
  /** The `Cookie` header the app's origin gets for `startUrl` after the login. */
  cookie: string;
  /** The guarded page's answer (status 200). */
  body: string;
  /** Requests it took. */
  steps: number;
}

/** Logs in by opening `startUrl`; throws when the flow does not end in a 200 on the app within the limits. */
export async function login(startUrl: string): Promise<LoginResult> {
  const jar = new CookieJar();
  const start = new URL(startUrl);
  let url = start;
  const trail: string[] = [];
  for (let step = 1; step <= MAX_STEPS; step++) {
    const cookie = jar.header(url);
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) },
      signal: AbortSignal.timeout(10_000),
    });
    jar.store(url, res.headers.getSetCookie());
    trail.push(`${res.status} ${url.host}${url.pathname}`);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url);
      continue;
    }
    const body = await res.text();
    if (res.status !== 200 || url.origin !== start.origin) {
      throw new Error(`login at ${start.origin} ended with ${res.status} at ${url.origin}${url.pathname}: ${body.slice(0, 300)} (${trail.join(' → ')})`);
    }
    return { jar, cookie: jar.header(start), body, steps: step };
  }
  throw new Error(`login at ${start.origin} did not finish within ${MAX_STEPS} requests (${trail.join(' → ')})`);
}
