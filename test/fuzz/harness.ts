/**
 * The shared parts of the property-based tests of test/fuzz/ (fast-check): the seed and run count,
 * an app with real Redis sessions and two providers on the in-process hostile provider, a raw
 * HTTP/1.1 client (node:net, for bytes that fetch refuses to send: NUL, duplicated Host, broken
 * request lines), hostile strings, and the checks every response must pass.
 *
 * FUZZ_RUNS=<n> runs every property n times instead of its bounded default (the whole folder then
 * stays under 30 s); FUZZ_SEED=<n> changes the seed (default 11). A failing property prints its
 * seed, path and shrunk counterexample; run the same file again with FUZZ_SEED=<seed> to reproduce.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import Router from '@koa/router';
import fc from 'fast-check';
import Koa from 'koa';
import { OpenID, redisSession, type OpenIDOptions } from '../../src/index.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';

// ---------------------------------------------------------------------------------------------
// Seed and runs

function intFromEnv(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be a whole number, not "${value}"`);
  return n;
}

export const FUZZ_SEED = intFromEnv('FUZZ_SEED') ?? 11;
const FUZZ_RUNS = intFromEnv('FUZZ_RUNS');

/** fast-check's report with long runs of one character or escape shortened (a flood of 20,000 NULs reads as one line). */
function shortReport<T>(details: fc.RunDetails<T>): string {
  const err = details.errorInstance as { message?: unknown } | undefined;
  const report = `${fc.defaultReportMessage(details) ?? 'the property failed'}\nGot error: ${typeof err?.message === 'string' ? err.message : String(err)}`;
  const shortened = report.replace(/((?:\\u[0-9a-fA-F]{4}|\\.|[^\\]){1,8}?)\1{15,}/g, (run, unit: string) => `${unit}…(×${Math.round(run.length / unit.length)})`);
  return shortened.length > 6000 ? `${shortened.slice(0, 6000)}…` : shortened;
}

/** `fc.assert` parameters: the fixed seed, and `defaultRuns` unless FUZZ_RUNS says otherwise. A failure reports the seed. */
export function fuzzParams<T>(defaultRuns: number): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: FUZZ_RUNS ?? defaultRuns,
    plugins: [
      // Each run (and each shrinking step) starts with no failure on record: a failure belongs to the run that caused it.
      fc.beforeEach(clearFailures),
      // Shrinking a hang (5 s a step) stops in time to report it before the test's own timeout.
      fc.interruptAfterTimeLimit(fuzzTimeout(defaultRuns) - 15_000, { failOnInterrupt: true }),
    ],
    asyncReporter: async (details) => {
      if (details.failed) throw new Error(`${shortReport(details)}\n(reproduce: FUZZ_SEED=${details.seed}${FUZZ_RUNS ? ` FUZZ_RUNS=${FUZZ_RUNS}` : ''})`);
    },
  };
}

/** How long one property may take: the default runs are bounded, FUZZ_RUNS runs get time in proportion. */
export function fuzzTimeout(defaultRuns: number, msPerRun = 200): number {
  return Math.max(60_000, (FUZZ_RUNS ?? defaultRuns) * msPerRun);
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawRequest {
  method?: string;
  /** The request target, sent as is (UTF-8 bytes): nothing is encoded or checked. */
  target: string | Buffer;
  /** Header lines in order, repeats allowed. `Host` is added unless given here or `host: null`. */
  headers?: Array<[string, string | Buffer]>;
  /** `null`: no Host header at all. Default `127.0.0.1:<port>`. */
  host?: string | null;
  body?: string | Buffer;
  /** `'auto'` (default): `Content-Length` of the body when there is one; `'none'`: none; a number: that value. */
  contentLength?: 'auto' | 'none' | number;
}

export interface RawResponse {
  status: number;
  /** Header lines as received (names lower-cased), in order. */
  headers: Array<[string, string]>;
  body: string;
  /** The whole answer as text: status line, headers and body. */
  text: string;
}

export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n === name)?.[1];
}

export function headers(res: RawResponse, name: string): string[] {
  return res.headers.filter(([n]) => n === name).map(([, v]) => v);
}

const CRLF = '\r\n';

export function requestBytes(port: number, req: RawRequest): Buffer {
  const parts: Buffer[] = [Buffer.from(`${req.method ?? 'GET'} `), Buffer.from(req.target), Buffer.from(` HTTP/1.1${CRLF}`)];
  const lines = req.headers ?? [];
  const hasHost = lines.some(([name]) => name.toLowerCase() === 'host');
  if (req.host !== null && !hasHost) parts.push(Buffer.from(`Host: ${req.host ?? `127.0.0.1:${port}`}${CRLF}`));
  // CR and LF would end the header (the rest becoming other headers or another request): they are
  // left out, so that a header carries what the test says. Every other byte goes out as it is.
  const oneLine = (b: Buffer) => (b.includes(13) || b.includes(10) ? Buffer.from(b.filter((c) => c !== 13 && c !== 10)) : b);
  for (const [name, value] of lines) parts.push(oneLine(Buffer.from(`${name}: `)), oneLine(Buffer.from(value)), Buffer.from(CRLF));
  const body = req.body === undefined ? undefined : Buffer.from(req.body);
  const length = req.contentLength ?? 'auto';
  if (typeof length === 'number') parts.push(Buffer.from(`Content-Length: ${length}${CRLF}`));
  else if (length === 'auto' && body) parts.push(Buffer.from(`Content-Length: ${body.length}${CRLF}`));
  parts.push(Buffer.from(`Connection: close${CRLF}${CRLF}`));
  if (body) parts.push(body);
  return Buffer.concat(parts);
}

function parseResponse(data: Buffer): RawResponse {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`an incomplete answer: ${JSON.stringify(data.toString('latin1').slice(0, 200))}`);
  const head = data.subarray(0, end).toString('latin1');
  const [statusLine = '', ...lines] = head.split(CRLF);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`not an HTTP answer: ${JSON.stringify(statusLine.slice(0, 200))}`);
  const hdrs = lines.map((line): [string, string] => {
    const i = line.indexOf(':');
    return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
  });
  let rest = data.subarray(end + 4);
  const te = hdrs.find(([n]) => n === 'transfer-encoding')?.[1];
  if (te && /chunked/i.test(te)) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd === -1) break;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (!(size > 0)) break;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    rest = Buffer.concat(chunks);
  }
  const body = rest.toString('utf8');
  return { status: Number(m[1]), headers: hdrs, body, text: `${head}\r\n\r\n${body}` };
}

/**
 * Sends `req` on a fresh connection and reads the answer until the server closes it. An answer
 * that does not come within `timeoutMs` is a hang: rejected. A connection reset after the answer
 * arrived (the server answered before reading a body it refuses) keeps the answer.
 */
export function rawRequest(port: number, req: RawRequest | Buffer, timeoutMs = 5_000): Promise<RawResponse> {
  const bytes = Buffer.isBuffer(req) ? req : requestBytes(port, req);
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      if (err && data.indexOf('\r\n\r\n') === -1) return reject(err);
      if (data.length === 0) return reject(new Error('the server closed the connection without an answer'));
      try {
        resolve(parseResponse(data));
      } catch (e) {
        reject(e);
      }
    };
    const timer = setTimeout(() => {
      done = true;
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (a hang): ${bytes.subarray(0, 200).toString('latin1')}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish());
    // Not end(): Node's http server drops a half-closed connection before an asynchronous answer.
    socket.on('connect', () => socket.write(bytes));
  });
}

/** The body as chunked transfer coding, in pieces of `size` bytes. */
export function chunked(body: Buffer, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const piece = body.subarray(i, i + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A GET with the given headers through {@link rawRequest}. */
export function rawGet(port: number, target: string, hdrs: Array<[string, string]> = []): Promise<RawResponse> {
  return rawRequest(port, { target, headers: hdrs });
}

/**
 * Node's own refusal of a request it cannot parse (a request line with raw non-ASCII bytes, NUL in a
 * header, headers over 16 KiB): 400 or 431 with no body, before the app sees anything.
 */
export function refusedByNode(res: RawResponse): boolean {
  return (res.status === 400 || res.status === 431) && res.body === '' && header(res, 'content-type') === undefined;
}

/** The `name` cookie a response sets, or `undefined`. */
export function setCookie(res: RawResponse, name: string): string | undefined {
  for (const value of headers(res, 'set-cookie')) {
    const pair = value.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq) === name) return pair.slice(eq + 1);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The app under test

export const CLIENT_ID = 'fuzz-client';
export const CLIENT_SECRET = `fuzz-secret-${randomBytes(16).toString('hex')}`;
export const COOKIE = 'koa-session-openid';

export interface FuzzUser {
  sub: string;
  /** The provider session id the ID token named. */
  sid: string;
  /** The session cookie's value. */
  cookie: string;
  /** The Cookie header for it. */
  cookieHeader: string;
  accessToken: string;
  refreshToken: string;
  idToken: string;
  /** A value kept in the user's `ctx.session` (`/data`). */
  note?: string;
}

export interface FuzzApp {
  base: string;
  port: number;
  app: Koa;
  op: HostileProvider;
  /** `hostile` (response_mode query) and `formpost` (response_mode form_post), on the same provider. */
  hostile: OpenID;
  formpost: OpenID;
  /** The client secret and every token the provider issued: no answer may contain one. */
  secrets: Set<string>;
  /** Failures the app reported (Koa `error` events of a 5xx or of a non-HTTP error): each is a bug here. */
  errors: unknown[];
  /** Where a Location may point outside the app: the provider's authorization and end-session endpoints. */
  providerEndpoints: string[];
  /** A complete login as `sub` through `provider` (a real code flow); optionally stores `note` in `ctx.session`. */
  login(sub: string, options?: { note?: string; provider?: 'hostile' | 'formpost' }): Promise<FuzzUser>;
  /** Asserts the app still answers its health route, and reported no failure. */
  healthy(): Promise<void>;
  close(): Promise<void>;
}

export interface FuzzAppOptions {
  /** `app.proxy`. Default `false`. */
  proxy?: boolean;
  /** Give the providers `baseUrl` (the app's real origin). Default `true`. */
  baseUrl?: boolean;
  /** A provider of another app to share (its tokens are then watched by both). */
  op?: HostileProvider;
  options?: Partial<OpenIDOptions>;
}

/** Failures outside any request (an unhandled rejection): each is a bug here too. */
const processErrors: unknown[] = [];
process.on('unhandledRejection', (err) => processErrors.push(err));
/** The failure lists of every app, and the process's. */
const failureLists: unknown[][] = [processErrors];
function clearFailures(): void {
  for (const list of failureLists) list.length = 0;
}

/** What the fuzz apps know of a provider's answers. */
interface Watch {
  secrets: Set<string>;
  /** Authorization code → the sid its ID tokens name. */
  sidOf: Map<string, string>;
  /** The sid of the next login (else a random one). */
  nextSid?: string;
  /** The last token answer. */
  last?: Record<string, unknown>;
}
const watched = new WeakMap<HostileProvider, Watch>();

/**
 * Sets a provider up once (an end-session endpoint, RFC 9207 `iss`, a sid in its ID tokens) and
 * records every token it issues; the apps that share it share its secret list.
 */
function watch(op: HostileProvider): Watch {
  let w = watched.get(op);
  if (w) return w;
  const state: Watch = { secrets: new Set(), sidOf: new Map() };
  w = state;
  watched.set(op, w);
  op.discovery.end_session_endpoint = `${op.issuer}/end-session`;
  op.discovery.authorization_response_iss_parameter_supported = true;
  op.onToken(async (ctx) => {
    // One sid per authorization (a refresh keeps it), so front- and back-channel logouts can name it.
    const key = ctx.authorization?.code ?? ctx.code;
    let sid = state.sidOf.get(key);
    if (sid === undefined) state.sidOf.set(key, (sid = state.nextSid ?? `sid-${randomBytes(9).toString('base64url')}`));
    const answer = await op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }, { expires_in: 3600 });
    if ('json' in answer) {
      const json = answer.json as Record<string, unknown>;
      state.last = json;
      for (const field of ['access_token', 'refresh_token', 'id_token']) {
        if (typeof json[field] === 'string') state.secrets.add(json[field]);
      }
    }
    return answer;
  });
  return w;
}

export async function startFuzzApp(o: FuzzAppOptions = {}): Promise<FuzzApp> {
  const op = o.op ?? (await startHostileProvider({ clientId: CLIENT_ID }));
  const w = watch(op);
  w.secrets.add(CLIENT_SECRET);
  w.secrets.add(Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'));

  const app = new Koa();
  app.proxy = o.proxy ?? false;
  // 5xx answers are Koa error events; they are collected below instead of printed.
  app.silent = true;
  const errors: unknown[] = [];
  failureLists.push(errors);
  app.on('error', (err: { status?: unknown; code?: unknown }) => {
    // A request the client broke off or garbled after its answer (a body longer than its
    // Content-Length, a reset) is Node's socket error, which Koa reports for every app: not a failure here.
    if (typeof err?.code === 'string' && (err.code.startsWith('HPE_') || ['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code))) return;
    if (typeof err?.status !== 'number' || err.status >= 500) errors.push(err);
  });
  const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('fuzz') });
  app.use(sessions);

  let handler: ReturnType<Koa['callback']> | undefined;
  const server: Server = createServer((req, res) => (handler ??= app.callback())(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  const common: Partial<OpenIDOptions> = {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    configuration: op.discoveryUrl,
    allowInsecureRequests: true,
    scopes: ['openid', 'offline_access'],
    // A JWT with an unknown kid waits for a JWKS refetch, at most one per cooldown: short here.
    jwksCooldown: 0.2,
    ...(o.baseUrl === false ? {} : { baseUrl: base }),
    ...o.options,
  };
  const hostile = new OpenID(app, { ...common, name: 'hostile' } as OpenIDOptions);
  const formpost = new OpenID(app, { ...common, name: 'formpost', responseMode: 'form_post' } as OpenIDOptions);

  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = 'ok';
  });
  // A guarded JSON route: the login's sub, or 401 login_required (browsers asking for HTML are redirected).
  router.get('/me', hostile.required(), (ctx) => {
    ctx.body = { sub: ctx.state.user!.sub };
  });
  router.get('/me/formpost', formpost.required({ redirect: false }), (ctx) => {
    ctx.body = { sub: ctx.state.user!.sub };
  });
  // The app's own session data.
  router.get('/data', (ctx) => {
    ctx.body = { note: ctx.session?.note ?? null };
  });
  router.post('/data', (ctx) => {
    ctx.session!.note = ctx.query.note;
    ctx.body = { note: ctx.session!.note };
  });
  // Bearer routes.
  router.get('/api/bearer', hostile.bearer(), (ctx) => {
    ctx.body = { sub: ctx.state.user!.sub, scopes: ctx.state.openid!.scopes };
  });
  router.get('/api/scoped', hostile.bearer({ scopes: ['api:read'] }), (ctx) => {
    ctx.body = { sub: ctx.state.user!.sub };
  });
  router.get('/api/both', hostile.required({ bearer: true }), (ctx) => {
    ctx.body = { sub: ctx.state.user!.sub, token: ctx.state.openid!.token };
  });
  app.use(router.routes());
  await hostile.ready();
  await formpost.ready();

  const authorize = String(op.discovery.authorization_endpoint);
  const endSession = String(op.discovery.end_session_endpoint);

  async function login(sub: string, options: { note?: string; provider?: 'hostile' | 'formpost' } = {}): Promise<FuzzUser> {
    const name = options.provider ?? 'hostile';
    op.subject = sub;
    const sid = `sid-${sub}-${randomBytes(9).toString('base64url')}`;
    w.nextSid = sid;
    try {
      const start = await rawGet(port, `/openid/${name}/login?returnTo=%2Fme`);
      assert.equal(start.status, 302, start.text);
      let cookie = setCookie(start, COOKIE);
      assert.ok(cookie, 'the login route set a session cookie');
      const callback = await providerRedirect(header(start, 'location')!);
      const answer =
        name === 'formpost'
          ? await rawRequest(port, {
              method: 'POST',
              target: new URL(callback.action).pathname,
              headers: [['Cookie', `${COOKIE}=${cookie}`], ['Content-Type', 'application/x-www-form-urlencoded']],
              body: callback.fields.toString(),
            })
          : await rawGet(port, new URL(callback.action).pathname + new URL(callback.action).search, [['Cookie', `${COOKIE}=${cookie}`]]);
      assert.equal(answer.status, 302, answer.text);
      cookie = setCookie(answer, COOKIE) ?? cookie;
      const tokens = w.last!;
      const user: FuzzUser = {
        sub,
        sid,
        cookie,
        cookieHeader: `${COOKIE}=${cookie}`,
        accessToken: String(tokens.access_token),
        refreshToken: String(tokens.refresh_token),
        idToken: String(tokens.id_token),
      };
      if (options.note !== undefined) {
        const set = await rawRequest(port, { method: 'POST', target: `/data?note=${encodeURIComponent(options.note)}`, headers: [['Cookie', user.cookieHeader]] });
        assert.equal(set.status, 200, set.text);
        user.cookie = setCookie(set, COOKIE) ?? user.cookie;
        user.cookieHeader = `${COOKIE}=${user.cookie}`;
        user.note = options.note;
      }
      return user;
    } finally {
      w.nextSid = undefined;
    }
  }

  return {
    base,
    port,
    app,
    op,
    hostile,
    formpost,
    secrets: w.secrets,
    errors,
    providerEndpoints: [authorize, endSession],
    login,
    async healthy() {
      const res = await rawGet(port, '/health');
      assert.equal(res.status, 200, 'the app still answers its health route');
      assert.equal(res.body, 'ok');
      // Taken out as they are checked: each run of a property stands alone (and shrinks alone).
      assert.deepEqual(errors.splice(0), [], 'the app reported no failure (a 5xx or a crash of a route)');
      assert.deepEqual(processErrors.splice(0), [], 'no unhandled rejection');
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sessions.close();
      if (!o.op) await op.close();
    },
  };
}

/**
 * Requests a URL of the provider's authorization endpoint and returns where it sends the browser
 * back: the redirect's URL (query mode) or the auto-posted form (form_post).
 */
export async function providerRedirect(url: string): Promise<{ action: string; fields: URLSearchParams }> {
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (location) {
    await res.body?.cancel();
    const target = new URL(location);
    return { action: target.href, fields: target.searchParams };
  }
  const html = await res.text();
  const action = /action="([^"]*)"/.exec(html)?.[1];
  assert.ok(action, `the provider answered neither a redirect nor a form: ${html.slice(0, 200)}`);
  const fields = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/name="([^"]*)" value="([^"]*)"/g)) fields.append(unescapeHtml(name!), unescapeHtml(value!));
  return { action: unescapeHtml(action), fields };
}

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

/** The sub the guarded route `/me` answers for this Cookie header, or `null` (401). */
export async function whoIs(fx: FuzzApp, cookieHeader: string, path = '/me'): Promise<string | null> {
  const res = await rawGet(fx.port, path, [['Cookie', cookieHeader], ['Accept', 'application/json']]);
  if (res.status === 401) {
    assert.equal(JSON.parse(res.body).error, 'login_required', res.text);
    return null;
  }
  assert.equal(res.status, 200, res.text);
  return (JSON.parse(res.body) as { sub: string }).sub;
}

/** The note `/data` shows for this Cookie header (`null`: none). */
export async function noteOf(fx: FuzzApp, cookieHeader: string): Promise<string | null> {
  const res = await rawGet(fx.port, '/data', [['Cookie', cookieHeader]]);
  assert.equal(res.status, 200, res.text);
  return (JSON.parse(res.body) as { note: string | null }).note;
}

// ---------------------------------------------------------------------------------------------
// What every answer must be

export interface Expect {
  /** The ID token of the request's own login: it may be the `id_token_hint` of a redirect to the end-session endpoint. */
  idTokenHint?: string;
  /** What the request carried that the answer must not repeat (a bearer token, a logout token). */
  notEchoed?: string[];
}

/**
 * The properties of every answer: a status under 500 (the dependencies are up); no client secret
 * and no token the provider issued anywhere in it (status line, headers, body), except the
 * request's own ID token as the `id_token_hint` of a logout at the provider; a `Location` that
 * stays on the app's origin (resolved as a browser does) or goes to the provider's authorization
 * or end-session endpoint; HTML with no script but the library's own (nonce) and no markup of the
 * request's; a `__Host-` cookie that is Secure, for `/`, without `Domain`.
 */
export function checkAnswer(fx: FuzzApp, res: RawResponse, expect: Expect = {}): void {
  assert.ok(res.status < 500, `a ${res.status} answer:\n${res.text.slice(0, 2000)}`);
  let text = res.text;
  const location = header(res, 'location');
  if (location !== undefined) {
    let url: URL;
    try {
      url = new URL(location, fx.base);
    } catch {
      assert.fail(`a Location that is no URL: ${location}`);
    }
    if (url.origin !== new URL(fx.base).origin) {
      const endpoint = fx.providerEndpoints.find((e) => url.origin + url.pathname === e);
      assert.ok(endpoint, `a Location that leaves the app's origin: ${location}`);
      const hint = url.searchParams.get('id_token_hint');
      if (hint !== null) {
        assert.equal(endpoint, fx.providerEndpoints[1], 'an id_token_hint goes to the end-session endpoint only');
        assert.equal(hint, expect.idTokenHint, "the id_token_hint is the request's own login's ID token");
        text = text.split(hint).join('[own id token]');
      }
    }
  }
  for (const secret of fx.secrets) {
    assert.ok(!text.includes(secret), `the answer contains the client secret or a token the provider issued (${secret.slice(0, 12)}…):\n${text.slice(0, 2000)}`);
  }
  for (const sent of expect.notEchoed ?? []) {
    assert.ok(!text.includes(sent), `the answer repeats what the request sent (${sent.slice(0, 24)}…)`);
  }
  if (/html/i.test(header(res, 'content-type') ?? '')) {
    for (const m of res.body.matchAll(/<script\b[^>]*>/gi)) assert.match(m[0], /^<script nonce="[^"]+">$/, `a script that is not the library's: ${m[0]}`);
    assert.ok(!/<x-fuzz/i.test(res.body), `markup of the request in the page:\n${res.body.slice(0, 2000)}`);
  }
  for (const cookie of headers(res, 'set-cookie')) {
    assert.ok(!/;\s*domain=/i.test(cookie), `a cookie with Domain: ${cookie}`);
    if (cookie.startsWith('__Host-')) {
      assert.match(cookie, /;\s*Secure(;|$)/i, `a __Host- cookie without Secure: ${cookie}`);
      assert.match(cookie, /;\s*Path=\/(;|$)/i, `a __Host- cookie not for /: ${cookie}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/** Single strings that broke parsers before: separators, NUL, CR LF, broken escapes, BOM, RTL, lone surrogates, prototype names. */
export const SPECIALS = [
  '', ' ', '\0', '%00', '\r\n', '%0d%0a', '\t', '%', '%%', '%G0', '%e0%a4', '%c0%af', '%ff', '%u0041', '%2', '+',
  '\uFEFF', '\u202E', '\uD800', '\uDFFF', '\u{1F600}', 'é', 'İ', 'ﬃ', '\u0301',
  '"><x-fuzz>', "'><x-fuzz a='", '<x-fuzz/>', '\\', '//', '/\\', '..', '../', '#', '?', '&', '=', ';', ',', '[]', '[0]',
  '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'null', 'undefined', '1e309', '-1', '0x10', 'NaN', 'true', '{}', '[]',
] as const;

/** Lengths at and around the limits of the app and of Node: 255 (sid), 2048 (returnTo), 4096 and 8192 (callback values and query), 16384 (headers, tokens), 65536 (form bodies). */
const LIMITS = [100, 255, 256, 1024, 2048, 2049, 4096, 4097, 8192, 8193, 16_384, 65_536];

/**
 * Arbitrary text of a hostile client: any unicode (lone surrogates too), the specials, runs of
 * them and of URL delimiters, and now and then something long (around a limit, or a flood).
 */
export function hostileString(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength, unit: 'grapheme' }) },
    { weight: 2, arbitrary: fc.string({ maxLength, unit: 'binary' }) },
    { weight: 4, arbitrary: fc.constantFrom(...SPECIALS) },
    { weight: 6, arbitrary: fc.array(fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ maxLength: 4 })), { maxLength: 8 }).map((a) => a.join('')) },
    { weight: 3, arbitrary: fc.string({ maxLength, unit: fc.constantFrom(...'%&=+;,/\\?#"\'<>[]{}|^`~!$()*@:. aZ09\0\t\r\n') }) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...LIMITS), fc.integer({ min: -2, max: 2 }), fc.constantFrom('a', 'é', '%', '\u{1F600}', 'ab%'))
        .map(([limit, delta, unit]) => unit.repeat(Math.ceil(Math.max(1, limit + delta) / unit.length)).slice(0, Math.max(1, limit + delta))),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '%', 'é', '\0', '&a=b', '/'), fc.integer({ min: 1000, max: 20_000 })).map(([s, n]) => s.repeat(Math.ceil(n / s.length))) },
  );
}

/** Percent-encodes every byte of the UTF-8 form except the unreserved characters (lone surrogates become U+FFFD). */
export function percentEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const BROKEN_ESCAPES = ['%', '%G', '%1', '%zz', '%E0%A4', '%C0%AF', '%ED%A0%80', '%FF', '%00', '%%', '%u00e9'];

/** How one parameter goes into a query string or form body. */
export type Encoding = 'encoded' | 'plus' | 'raw' | 'bytes' | 'broken' | 'key-only';

export interface Param {
  key: string;
  value: string;
  encoding: Encoding;
  /** For `broken`: where the broken escape goes (a fraction of the length) and which. */
  at: number;
  escape: string;
  /** How many times the parameter is sent. */
  times: number;
}

/**
 * A list of parameters: mostly each of `keys` at most once with a hostile value (so that the
 * checks behind "repeated" are reached), and in one run out of four hostile names, repeats and
 * floods on top.
 */
export function paramsArb(keys: readonly string[], values: fc.Arbitrary<string>, maxLength = 6): fc.Arbitrary<Param[]> {
  const encoding = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom<Encoding>('encoded', 'encoded', 'encoded', 'plus', 'raw', 'raw', 'broken', 'broken', 'key-only') },
    { weight: 1, arbitrary: fc.constant<Encoding>('bytes') },
  );
  const param = (key: fc.Arbitrary<string>, times: fc.Arbitrary<number>) =>
    fc.record({ key, value: values, encoding, at: fc.double({ min: 0, max: 1, noNaN: true }), escape: fc.constantFrom(...BROKEN_ESCAPES), times });
  const once = fc.uniqueArray(param(fc.constantFrom(...keys), fc.constant(1)), { selector: (p) => p.key, maxLength });
  const extra = fc.array(
    param(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: hostileString(12) }),
      fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constantFrom(50, 3000) }),
    ),
    { minLength: 1, maxLength: 3 },
  );
  return fc.tuple(once, oneIn(4, extra), fc.nat()).map(([a, b, at]) => {
    if (!b) return a;
    const i = a.length ? at % (a.length + 1) : 0;
    return [...a.slice(0, i), ...b, ...a.slice(i)];
  });
}

/**
 * The parameters as a query string or form body. `subst` replaces placeholder values (`$state`
 * and the like) first. `raw` sends the characters as they are, except that space, CR and LF,
 * which would end the request line, are escaped when `forTarget`.
 */
export function renderParams(params: Param[], subst: (value: string) => string = (v) => v, forTarget = true, separator = '&', maxLength = 70_000): string {
  const encode = (s: string, p: Param): string => {
    switch (p.encoding) {
      case 'encoded':
      case 'key-only':
        return percentEncode(s);
      case 'plus':
        return percentEncode(s).replace(/%20/g, '+');
      case 'raw':
        // Delimiters and every printable ASCII character as they are; in a request target, what Node
        // would refuse outright (controls, space, non-ASCII) escaped, so that the app sees the rest.
        return forTarget ? s.replace(/[^\x21-\x7e]/gu, (c) => percentEncode(c)) : s;
      case 'bytes':
        // UTF-8 as it is, only space, CR and LF (which end the request line) escaped: mostly Node's 400.
        return forTarget ? s.replace(/[ \r\n]/g, (c) => percentEncode(c)) : s;
      case 'broken': {
        const e = percentEncode(s);
        const i = Math.floor(p.at * e.length);
        return e.slice(0, i) + p.escape + e.slice(i);
      }
    }
  };
  const out: string[] = [];
  let length = 0;
  for (const p of params) {
    const value = subst(p.value);
    // The name goes out as the value does, except that a broken escape goes into the value only.
    const key = p.encoding === 'broken' ? percentEncode(p.key) : encode(p.key, p);
    const one = p.encoding === 'key-only' ? key : `${key}=${encode(value, p)}`;
    // A flood stops a little past `maxLength`: over every limit of the app and Node, and still quick to send.
    for (let i = 0; i < p.times && length < maxLength; i++, length += one.length + 1) out.push(one);
  }
  return out.join(separator);
}

/** A string that has the shape of a JWT: three (or two, or four) base64url parts of JSON, garbage or nothing. */
export function jwtShaped(): fc.Arbitrary<string> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
  const json = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.record({ alg: fc.constantFrom('none', 'None', 'RS256', 'HS256', 'ES256', 'EdDSA', 'PS256', '', 'RS1'), kid: fc.option(hostileString(20)), typ: fc.option(fc.constantFrom('JWT', 'at+jwt', 'logout+jwt', 'JWS')), crit: fc.option(fc.array(fc.string())), jku: fc.option(fc.constant('http://evil.example/jwks')) }).map((h) => JSON.stringify(h)),
    hostileString(30),
    fc.constant('{"alg":"RS256","kid":"__proto__"}'),
    fc.constant('{"__proto__":{"alg":"none"}}'),
  );
  const part = fc.oneof({ weight: 4, arbitrary: json.map(b64) }, { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCabc012-_=+/.') , maxLength: 40 }) }, { weight: 1, arbitrary: fc.constant('') });
  return fc.array(part, { minLength: 2, maxLength: 4 }).map((parts) => (parts.length === 2 ? `${parts[0]}.${parts[1]}.` : parts.join('.')));
}

/**
 * Counts of what the runs of a property met (statuses, paths taken), printed with FUZZ_STATS=1:
 * to see that the generators reach the interesting paths, not only the first refusal.
 */
export class Tally {
  readonly #counts = new Map<string, number>();
  constructor(readonly name: string) {}
  add(...labels: Array<string | number>): void {
    const label = labels.join(' ');
    this.#counts.set(label, (this.#counts.get(label) ?? 0) + 1);
  }
  print(): void {
    if (!process.env.FUZZ_STATS) return;
    const lines = [...this.#counts].sort((a, b) => b[1] - a[1]).map(([label, n]) => `  ${String(n).padStart(6)}  ${label}`);
    console.log(`${this.name}:\n${lines.join('\n')}`);
  }
}

/** `arb` in one run out of `n`, else `null` (`fc.option` is the other way round: `null` one run out of `freq`). */
export function oneIn<T>(n: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}
