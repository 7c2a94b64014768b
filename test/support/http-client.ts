/**
 * A browser stand-in for tests: `fetch` with `redirect: 'manual'` plus a cookie jar, so a test can
 * walk a whole code-flow login (app login route → provider authorize → interaction → app callback →
 * app page) without a real browser.
 *
 * Cookies (RFC 6265, the parts tests meet): every `Set-Cookie` of a response is stored (via
 * `headers.getSetCookie()`), keyed by name and Path, and sent back to matching paths. They are
 * scoped to the origin's host:port by default; pass `{ cookieScope: 'host' }` to share them across
 * ports as real browsers do (cookies ignore ports). `Max-Age` (over `Expires`) sets expiry; zero, a
 * negative `Max-Age` or a past `Expires` deletes the cookie. `Domain` is ignored (host-only).
 * `Secure` cookies are sent to https and to loopback hosts only, like browsers do.
 */

export interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** Epoch milliseconds; `undefined` for a session cookie. */
  expires?: number;
  httpOnly: boolean;
  secure: boolean;
  sameSite?: string;
}

export interface BrowserOptions {
  /** `'origin'` (default): cookies per host:port. `'host'`: per host, as browsers do. */
  cookieScope?: 'origin' | 'host';
}

export interface RequestOptions {
  headers?: Record<string, string>;
}

export interface FollowOptions extends RequestOptions {
  /** Redirects followed at most before giving up (throws). Default `20`. */
  maxHops?: number;
  /** Send `Accept: text/html` on every hop, as a browser's navigation does (`headers` go with the first request only). */
  navigation?: boolean;
  /** Start with a form POST instead of a GET. */
  form?: Record<string, string> | URLSearchParams;
  /**
   * Do not request a redirect target that starts with this prefix (or for which this returns
   * true): stop there, e.g. to tamper with or replay the callback URL.
   */
  stopAt?: string | ((url: URL) => boolean);
  /**
   * Submit HTML pages that post their form by script on load, as a browser would: oidc-provider's
   * `response_mode=form_post` answers and its logout-on-account-switch page. Default `true`.
   */
  autoSubmit?: boolean;
}

export interface FollowResult {
  /** The first answer that is not a redirect (body unread), or the redirect to `stoppedAt`. */
  response: Response;
  /** Every URL requested, in order: the first one, each redirect target, the final one last. */
  urls: string[];
  /** The redirect (or auto-submitted form) target matched by `stopAt` (not requested). */
  stoppedAt?: URL;
  /** When it stopped at an auto-submitted form: the fields that would have been posted. */
  stoppedForm?: URLSearchParams;
}

/** A page that posts its form by script on load: `{ action, fields }`, else `undefined`. */
export function autoSubmittedForm(html: string): { action: string; fields: URLSearchParams } | undefined {
  if (!html.includes('document.forms[0].submit()')) return undefined;
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const attr = (tag: string, name: string) =>
    new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag)?.[1];
  const action = attr(form[1]!, 'action');
  if (action === undefined || attr(form[1]!, 'method')?.toLowerCase() !== 'post') return undefined;
  const fields = new URLSearchParams();
  for (const [input] of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input, 'name');
    if (name !== undefined) fields.append(decodeHtml(name), decodeHtml(attr(input, 'value') ?? ''));
  }
  return { action: decodeHtml(action), fields };
}

/** Decodes the character references of HTML text (named, decimal, hex). */
export function decodeHtml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
    if (code[0] !== '#') return named[code.toLowerCase()] ?? entity;
    return String.fromCodePoint(code[1] === 'x' || code[1] === 'X' ? parseInt(code.slice(2), 16) : Number(code.slice(1)));
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isRedirect(status: number): boolean {
  return [301, 302, 303, 307, 308].includes(status);
}

/** RFC 6265 §5.1.4 default-path: the request path up to, not including, its last `/`. */
function defaultPath(pathname: string): string {
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function parseSetCookie(header: string, url: URL, now: number): StoredCookie | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    path: defaultPath(url.pathname),
    httpOnly: false,
    secure: false,
  };
  let maxAge: number | undefined;
  let expires: number | undefined;
  for (const attribute of attributes) {
    const i = attribute.indexOf('=');
    const key = (i === -1 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
    const value = i === -1 ? '' : attribute.slice(i + 1).trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
    else if (key === 'expires' && !Number.isNaN(Date.parse(value))) expires = Date.parse(value);
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'samesite') cookie.sameSite = value;
  }
  if (maxAge !== undefined) cookie.expires = now + maxAge * 1000;
  else if (expires !== undefined) cookie.expires = expires;
  return cookie;
}

export class Browser {
  readonly #scope: 'origin' | 'host';
  /** scope key → `name;path` → cookie */
  readonly #jar = new Map<string, Map<string, StoredCookie>>();

  constructor(options: BrowserOptions = {}) {
    this.#scope = options.cookieScope ?? 'origin';
  }

  #key(url: URL): string {
    return this.#scope === 'host' ? url.hostname : url.host;
  }

  #live(url: URL): StoredCookie[] {
    const cookies = this.#jar.get(this.#key(url));
    if (!cookies) return [];
    const now = Date.now();
    for (const [id, cookie] of cookies) {
      if (cookie.expires !== undefined && cookie.expires <= now) cookies.delete(id);
    }
    return [...cookies.values()];
  }

  /** Stores the `Set-Cookie` headers of a response to a request for `url`. */
  store(url: string | URL, response: Response): void {
    const target = new URL(url);
    const key = this.#key(target);
    let cookies = this.#jar.get(key);
    if (!cookies) this.#jar.set(key, (cookies = new Map()));
    const now = Date.now();
    for (const header of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(header, target, now);
      if (!cookie) continue;
      const id = `${cookie.name};${cookie.path}`;
      if (cookie.expires !== undefined && cookie.expires <= now) cookies.delete(id);
      else cookies.set(id, cookie);
    }
  }

  /** The `Cookie` header a request to `url` would carry (longest paths first), or `''`. */
  cookieHeader(url: string | URL): string {
    const target = new URL(url);
    const secureOk = target.protocol === 'https:' || LOOPBACK.has(target.hostname);
    return this.#live(target)
      .filter((c) => pathMatches(target.pathname, c.path) && (!c.secure || secureOk))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** name → value of every live cookie stored for the origin of `url`, whatever its path. */
  cookies(url: string | URL): Record<string, string> {
    return Object.fromEntries(this.#live(new URL(url)).map((c) => [c.name, c.value]));
  }

  /** Every live cookie stored for the origin of `url`, with its attributes. */
  cookieJar(url: string | URL): StoredCookie[] {
    return this.#live(new URL(url)).map((c) => ({ ...c }));
  }

  /** Forgets the cookies of the origin of `url`, or all of them. */
  clearCookies(url?: string | URL): void {
    if (url === undefined) this.#jar.clear();
    else this.#jar.delete(this.#key(new URL(url)));
  }

  async #request(
    url: string | URL,
    init: { method: string; body?: URLSearchParams; headers?: Record<string, string> },
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie && !headers.has('cookie')) headers.set('cookie', cookie);
    const response = await fetch(url, {
      method: init.method,
      headers,
      body: init.body,
      redirect: 'manual',
    });
    this.store(url, response);
    return response;
  }

  /** One GET, redirects not followed. */
  get(url: string | URL, options: RequestOptions = {}): Promise<Response> {
    return this.#request(url, { method: 'GET', headers: options.headers });
  }

  /** One urlencoded form POST, redirects not followed. */
  post(
    url: string | URL,
    form: Record<string, string> | URLSearchParams,
    options: RequestOptions = {},
  ): Promise<Response> {
    return this.#request(url, { method: 'POST', body: new URLSearchParams(form), headers: options.headers });
  }

  /**
   * GET (or POST `form`) `url`, then follow redirects across origins until an answer that is not a
   * redirect. 301/302/303 continue with a GET, 307/308 repeat the method and body. `headers` go
   * with the first request only. Intermediate bodies are discarded. See `stopAt`, `autoSubmit`
   * (auto-submitted form posts count as hops and appear in `urls`).
   */
  async follow(url: string | URL, options: FollowOptions = {}): Promise<FollowResult> {
    const maxHops = options.maxHops ?? 20;
    let current = new URL(url);
    let method = options.form ? 'POST' : 'GET';
    let body = options.form ? new URLSearchParams(options.form) : undefined;
    const navigation = options.navigation ? { accept: 'text/html' } : undefined;
    let headers = options.headers ?? navigation;
    const { stopAt } = options;
    const stop =
      stopAt === undefined
        ? () => false
        : typeof stopAt === 'string'
          ? (u: URL) => u.href.startsWith(stopAt)
          : stopAt;
    const urls: string[] = [];
    for (let hop = 0; ; hop++) {
      urls.push(current.href);
      const response = await this.#request(current, { method, body, headers });
      const location = response.headers.get('location');
      if (!isRedirect(response.status) || location === null) {
        if (options.autoSubmit === false || !response.headers.get('content-type')?.includes('html')) {
          return { response, urls };
        }
        const html = await response.text();
        const form = autoSubmittedForm(html);
        const copy = new Response(html, response);
        if (!form) return { response: copy, urls };
        const next = new URL(form.action, current);
        if (stop(next)) return { response: copy, urls, stoppedAt: next, stoppedForm: form.fields };
        if (hop >= maxHops) {
          throw new Error(`more than ${maxHops} redirects; visited:\n${urls.join('\n')}`);
        }
        [method, body, headers, current] = ['POST', form.fields, navigation, next];
        continue;
      }
      const next = new URL(location, current);
      if (stop(next)) return { response, urls, stoppedAt: next };
      await response.body?.cancel();
      if (hop >= maxHops) {
        throw new Error(`more than ${maxHops} redirects; visited:\n${urls.join('\n')}`);
      }
      if (response.status !== 307 && response.status !== 308) {
        method = 'GET';
        body = undefined;
      }
      headers = navigation;
      current = next;
    }
  }
}
