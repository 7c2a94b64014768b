/**
 * Glewlwyd (Debian package `glewlwyd`, 2.7.x) as a real, independent OpenID provider for
 * interop tests: its own binary on a free 127.0.0.1 port, in a fresh temp directory with a config
 * file and a sqlite database initialised from the package's `init.sqlite3.sql.gz` (admin
 * `admin`/`password`). Everything else goes through its admin REST API, in this order:
 *
 *   1. `POST /api/auth/` as admin (polled until it answers 200: that is the readiness check)
 *   2. `POST /api/mod/plugin/`: an `oidc` plugin instance named `oidc`, issuer
 *      `http://127.0.0.1:PORT/api/oidc`, signing with a fresh RS256 key (node:crypto, as a
 *      private JWKS), code + refresh grants only, PKCE S256, RFC 8707 resources (client property
 *      `resource`), `name`/`email` claims on the `profile`/`email` scopes, session management
 *      (`sid` in ID tokens, end_session) with back- and front-channel logout
 *   3. `GET /api/oidc/.well-known/openid-configuration`: the plugin is live and names the issuer
 *   4. `GET /api/scope/{name}`, `POST /api/scope/` for each scope that does not exist yet
 *      (`openid` ships with the database; `profile` and `email` are created)
 *   5. `POST /api/user/`: the test user, with name, email and the scopes
 *   6. `GET`, `PUT /api/mod/client/database` and `PUT /api/mod/client/database/reset`: the client
 *      module learns the `post_logout_redirect_uris` property (see the quirks)
 *   7. `POST /api/client/`: one confidential client, its secret, the redirect URI, grant types
 *      `code` and `refresh_token`, token endpoint auth `client_secret_basic`, and when given its
 *      `post_logout_redirect_uris`, `backchannel_logout_uri` and `frontchannel_logout_uri` (both
 *      with `sid`)
 *
 * Logging in is not interactive: `authenticate(browser)` logs the user in through Glewlwyd's auth
 * API (`POST /api/auth/`) and grants the client its scopes (`PUT /api/auth/grant/{client_id}/`)
 * with the `Browser`'s cookie jar. Glewlwyd's authorization endpoint still sends every request
 * without `prompt=none` to its login page once (`/login.html?client_id&scope&callback_url`), even
 * with a valid session and grant; its login web app then sends the browser back to `callback_url`
 * plus `g_continue`, and only that request is answered with the code. The web app is not served
 * here (no static files, and `Browser` runs no script): `follow(browser, url)` plays its part, like
 * a user who logs in and presses "Continue" (it calls `authenticate` there and goes on at
 * `callback_url&g_continue`). After `authenticate`, an authorization request with `prompt=none`
 * comes straight back with the code.
 *
 * Logging out: Glewlwyd's end_session endpoint sends the browser to the same login page with
 * `prompt=end_session`, `sid`, `client_id`, `post_redirect_to` and `callback_url` (the
 * post_logout_redirect_uri plus `state`); the web app lists the session's front-channel logout
 * URIs (`GET /api/oidc/session/{sid}/{client_id}`), loads them in iframes, ends the session
 * (`DELETE /api/oidc/session/{sid}`, which sends the back-channel logout tokens), logs the user
 * out (`DELETE /api/auth/`) and goes to `callback_url`. `follow` plays that part too.
 *
 * Quirks met (Glewlwyd 2.7.5):
 * - Writing `use_secure_connection=false` in the config makes it demand key files: left out.
 * - A plugin POST that fails validation answers 400 but still creates the plugin instance: any
 *   failure here aborts the whole start (the process and its database are thrown away).
 * - `session-management-allowed: true` needs `session-cookie-name` and `session-cookie-expiration`.
 * - The grant API takes the scope list separated by spaces (its documentation says commas, which
 *   are refused with 401).
 * - Without a `resource`, access tokens get the granted scope list (one space-separated string)
 *   as `aud`; with an RFC 8707 `resource` in the authorization request, `aud` is that resource.
 * - Basic client credentials are compared raw (no form decoding of the user id/password).
 * - The client module stores only the properties its data-format names. The shipped data-format
 *   has `post_logout_redirect_uri` (one value), but the OIDC plugin checks the
 *   post_logout_redirect_uri of end_session against `post_logout_redirect_uris` (a list), which
 *   the client API refuses as a list without step 6 (and its `reset`: a PUT alone changes nothing
 *   until the module is reloaded). Without it no post-logout redirect is ever accepted.
 * - Client flags such as `backchannel_logout_session_required` are read as strings ("true").
 * - Logout tokens are posted from a thread of their own: they may arrive after end_session is done.
 *
 * `close()` kills the process (SIGTERM, then SIGKILL after 3 s) and removes the temp directory. If
 * the test process ends first, an exit/signal hook does it, and `setpriv --pdeathsig KILL` covers a
 * test process that is SIGKILLed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';

import type { Browser, FollowOptions, FollowResult } from './http-client.js';

export const GLEWLWYD_BINARY = '/usr/bin/glewlwyd';
/** util-linux: kills Glewlwyd when the process that started it dies, however it dies. */
const SETPRIV = '/usr/bin/setpriv';
const INIT_SQL = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const MODULES = '/usr/lib/glewlwyd';
const INSTALL_HINT = 'apt-get install -y glewlwyd sqlite3';
/** The plugin instance name: its endpoints live under `/api/oidc/`. */
const PLUGIN = 'oidc';
const ADMIN = { username: 'admin', password: 'password' };

export interface GlewlwydOptions {
  /** The client's one registered redirect URI (e.g. `${app}/openid/glewlwyd/auth`). Required. */
  redirectUri: string;
  /** Default `koa-app.v2_test` (has `-`, `.`, `_`: the characters client_secret_basic encoding gets wrong). */
  clientId?: string;
  /** Default `s3cret-value.with_chars-0123456789`. */
  clientSecret?: string;
  /** Token endpoint auth methods the client may use. Default `['client_secret_basic']`. */
  tokenEndpointAuthMethods?: string[];
  /** RFC 8707 resources the client may ask for (they become the access token's `aud`). Default none. */
  resources?: string[];
  /**
   * The client's `post_logout_redirect_uris` (RP-Initiated Logout): where Glewlwyd's end_session
   * may send the browser back. Default none.
   */
  postLogoutRedirectUris?: string[];
  /** The client's `backchannel_logout_uri` (with `sid` in the logout token). Default none. */
  backchannelLogoutUri?: string;
  /** The client's `frontchannel_logout_uri` (loaded with `iss` and `sid`). Default none. */
  frontchannelLogoutUri?: string;
  /** More client properties, merged into the client (only those in the client module's data-format are kept). */
  clientProperties?: Record<string, unknown>;
  /** Default `alice.test`. */
  username?: string;
  /** Default a random password. */
  password?: string;
  /** Default `Alice Liddell`. */
  name?: string;
  /** Default `alice@example.test`. */
  email?: string;
  /** Scopes that exist, the user has, and the client gets granted. Default `['openid', 'profile', 'email']`. */
  scopes?: string[];
  /** Seconds. Default 3600. */
  accessTokenDuration?: number;
  /** `never` (default) or `always`: a refresh then returns a new refresh token and spends the old one. */
  refreshTokenOneUse?: 'never' | 'always';
  /** Milliseconds to wait for Glewlwyd to answer. Default 15000. */
  startTimeout?: number;
  /** Glewlwyd's log level. Default `INFO` (tokens and secrets are not logged at that level). */
  logLevel?: 'ERROR' | 'WARNING' | 'INFO' | 'DEBUG';
}

export interface Glewlwyd {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** `http://127.0.0.1:PORT/api/oidc`. */
  issuer: string;
  /** `${issuer}/.well-known/openid-configuration`. */
  discoveryUrl: string;
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  name: string;
  email: string;
  scopes: string[];
  /** The RS256 key's `kid`. */
  kid: string;
  /**
   * Logs the user in at Glewlwyd with `browser`'s cookie jar and grants the client `scopes`
   * (default all of them), so that an authorization request from `browser` comes straight back
   * with a code.
   */
  authenticate(browser: Browser, scopes?: string[]): Promise<void>;
  /**
   * `browser.follow(url, options)` through Glewlwyd's login page: each time the browser is sent to
   * it, logs the user in and grants the scopes (`authenticate`, unless `authenticate: false`) and
   * goes on at its `callback_url` plus `g_continue`, as Glewlwyd's login web app does. With
   * `authenticate: false` it stops at the login page instead (`stoppedAt`).
   *
   * Sent there by end_session with `prompt=end_session` (the `id_token_hint` was accepted), it
   * plays the end-session page and the user pressing "Log out", as the web app does: loads each
   * front-channel logout URL without cookies (a frame of another site), ends the session
   * (`endSession`), logs the user out of Glewlwyd (`DELETE /api/auth/`), then goes on at
   * `callback_url` (the post_logout_redirect_uri with `state`) if Glewlwyd accepted that URI for
   * the client, else stops there. Any other prompt there (`single_logout`: the hint was refused)
   * stops at the login page.
   *
   * `urls` lists every URL requested, front-channel logout URLs included; the login page, not
   * being served, is not among them.
   */
  follow(browser: Browser, url: string | URL, options?: FollowOptions & { authenticate?: boolean }): Promise<FollowResult>;
  /**
   * What Glewlwyd's end-session page reads for the OIDC session `sid` of `browser`'s Glewlwyd
   * user (`GET /api/oidc/session/{sid}/{clientId}`): the front-channel logout URLs it loads in
   * iframes, built as its web app builds them (`?iss=` plus `&sid=` when the client asks for it,
   * neither encoded), and `postRedirectTo` when Glewlwyd accepted that URI for the client.
   * Glewlwyd answers 400 unless front-channel logout is on and `sid` has a live ID token.
   */
  endSessionPage(browser: Browser, sid: string, clientId?: string, postRedirectTo?: string): Promise<{ frontchannelLogoutUrls: string[]; postRedirectTo?: string }>;
  /**
   * Ends the OIDC session `sid` as the end-session page does on "Log out" (`DELETE
   * /api/oidc/session/{sid}` with `browser`'s Glewlwyd session): Glewlwyd disables the session's
   * tokens and posts a logout token to each back-channel logout URI from a thread of its own, so
   * the delivery may come after this returns.
   */
  endSession(browser: Browser, sid: string): Promise<void>;
  /** The login page URL Glewlwyd redirects to (without query). */
  loginPage: string;
  /** One admin API call (`path` below `/api`), as admin; throws unless the answer is 2xx. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** What Glewlwyd logged so far (last lines). */
  log(): string;
  /** Kills the process and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * What to undo if this (test) process ends before `close()`: kill the process, remove its
 * directory. Run on `exit` and on SIGINT/SIGTERM/SIGHUP (then the signal's default action follows
 * unless someone else handles it). A SIGKILLed test process cannot run it: Glewlwyd is started
 * under `setpriv --pdeathsig KILL` for that case, so it never outlives its parent.
 */
const leftovers = new Set<() => void>();
let hooked = false;
function undoOnExit(undo: () => void): () => void {
  leftovers.add(undo);
  if (!hooked) {
    hooked = true;
    const runAll = () => {
      for (const fn of leftovers) fn();
      leftovers.clear();
    };
    process.once('exit', runAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        runAll();
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    }
  }
  return () => leftovers.delete(undo);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findSqlite3(): string | undefined {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean).map((d) => join(d, 'sqlite3')).find(executable);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A libconfig string literal. */
function quoted(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function configFile(port: number, dbPath: string, logLevel: string): string {
  // No use_secure_connection line (any value makes it demand key files), no static files (the
  // web app is not needed), no cookie_domain (host-only cookies suit 127.0.0.1).
  return [
    `port=${port}`,
    `bind_address="127.0.0.1"`,
    `external_url=${quoted(`http://127.0.0.1:${port}`)}`,
    `login_url="login.html"`,
    `api_prefix="api"`,
    `log_mode="console"`,
    `log_level=${quoted(logLevel)}`,
    `cookie_secure=0`,
    `cookie_same_site="empty"`,
    `session_expiration=3600`,
    `session_key="GLEWLWYD2_SESSION_ID"`,
    `admin_session_authentication="cookie"`,
    `profile_session_authentication="cookie"`,
    `allow_multiple_user_per_session=true`,
    `login_api_enabled=true`,
    `plugin_api_run_enabled=""`,
    `admin_scope="g_admin"`,
    `profile_scope="g_profile"`,
    `user_module_path=${quoted(`${MODULES}/user`)}`,
    `client_module_path=${quoted(`${MODULES}/client`)}`,
    `user_auth_scheme_module_path=${quoted(`${MODULES}/scheme`)}`,
    `plugin_module_path=${quoted(`${MODULES}/plugin`)}`,
    `hash_algorithm="SHA512"`,
    `database = { type = "sqlite3"; path = ${quoted(dbPath)}; };`,
    '',
  ].join('\n');
}

/** The `Cookie` header value for the `Set-Cookie`s of `response` (name=value pairs only). */
function cookiesOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0]!.trim())
    .filter((c) => c.includes('='))
    .join('; ');
}

async function describe(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  return `${response.status}${text ? ` ${text.slice(0, 500)}` : ''}`;
}

/** Starts Glewlwyd and configures it (see the file comment). Rejects, with its log, if it does not come up. */
export async function startGlewlwyd(options: GlewlwydOptions): Promise<Glewlwyd> {
  if (!executable(GLEWLWYD_BINARY)) {
    throw new Error(`Glewlwyd is missing (no ${GLEWLWYD_BINARY}); the interop tests need it. Install it:  ${INSTALL_HINT}`);
  }
  const sqlite3 = findSqlite3();
  if (!sqlite3) throw new Error(`sqlite3 is missing; the Glewlwyd tests need it to create the database. Install it:  ${INSTALL_HINT}`);
  let initSql: Buffer;
  try {
    initSql = gunzipSync(readFileSync(INIT_SQL));
  } catch (err) {
    throw new Error(`cannot read ${INIT_SQL} (${(err as Error).message}); reinstall:  ${INSTALL_HINT}`);
  }

  const o = {
    clientId: 'koa-app.v2_test',
    clientSecret: 's3cret-value.with_chars-0123456789',
    tokenEndpointAuthMethods: ['client_secret_basic'],
    resources: [] as string[],
    postLogoutRedirectUris: [] as string[],
    username: 'alice.test',
    password: `Pw-${randomBytes(9).toString('base64url')}`,
    name: 'Alice Liddell',
    email: 'alice@example.test',
    scopes: ['openid', 'profile', 'email'],
    accessTokenDuration: 3600,
    refreshTokenOneUse: 'never' as const,
    startTimeout: 15_000,
    logLevel: 'INFO' as const,
    ...options,
  };

  const dir = mkdtempSync(join(tmpdir(), 'glewlwyd-'));
  let child: ChildProcess | undefined;
  let logLines: string[] = [];
  const log = () => logLines.join('\n');
  const forget = undoOnExit(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const cleanup = async () => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!gone) {
        c.kill('SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      }
    }
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
    forget();
  };

  try {
    const db = join(dir, 'glewlwyd.db');
    const init = spawnSync(sqlite3, [db], { input: initSql, timeout: 10_000, encoding: 'utf8' });
    if (init.status !== 0) {
      throw new Error(`sqlite3 could not initialise the Glewlwyd database: ${init.error?.message ?? init.stderr.trim()}`);
    }

    const deadline = Date.now() + o.startTimeout;
    let base = '';
    let adminCookie = '';
    // A free port can be taken before Glewlwyd binds it: it then exits at once, and we try again.
    for (let attempt = 1; attempt <= 3 && !adminCookie; attempt++) {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const conf = join(dir, 'glewlwyd.conf');
      writeFileSync(conf, configFile(port, db, o.logLevel));
      logLines = [];
      const command = executable(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', GLEWLWYD_BINARY] : [GLEWLWYD_BINARY];
      // setpriv execs Glewlwyd: same process, so killing `c` kills Glewlwyd.
      const c = spawn(command[0]!, [...command.slice(1), '-c', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      const collect = (data: Buffer) => {
        logLines.push(...data.toString('utf8').split('\n').filter(Boolean));
        if (logLines.length > 300) logLines = logLines.slice(-200);
      };
      c.stdout!.on('data', collect);
      c.stderr!.on('data', collect);
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));

      while (!adminCookie && c.exitCode === null && c.signalCode === null && Date.now() < deadline) {
        try {
          const res = await fetch(`${base}/api/auth/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(ADMIN),
            signal: AbortSignal.timeout(Math.max(100, Math.min(2000, deadline - Date.now()))),
          });
          if (res.status === 200) adminCookie = cookiesOf(res);
          else {
            const answer = await describe(res);
            throw new Error(`Glewlwyd refused the admin login (${answer}). Its log:\n${log()}`);
          }
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('Glewlwyd refused')) throw err;
          await Promise.race([sleep(100), exited]);
        }
      }
      if (adminCookie) break;
      if (c.exitCode === null && c.signalCode === null) {
        throw new Error(`Glewlwyd did not answer on ${base} within ${o.startTimeout} ms. Its log:\n${log() || '(empty)'}`);
      }
      await exited;
      if (Date.now() >= deadline || attempt === 3) {
        throw new Error(`Glewlwyd exited (code ${c.exitCode ?? c.signalCode}) before answering on ${base}. Its log:\n${log() || '(empty)'}`);
      }
    }
    if (!adminCookie) throw new Error('Glewlwyd answered the admin login without a session cookie');

    const admin = async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${base}/api${path}`, {
        method,
        headers: { cookie: adminCookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5000),
      });
      if (res.status < 200 || res.status > 299) throw new Error(`Glewlwyd admin API ${method} /api${path}: ${await describe(res)}`);
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    };

    // 2. The OIDC plugin instance, signing with a fresh RS256 key.
    const issuer = `${base}/api/${PLUGIN}`;
    const kid = `rs256-${randomBytes(6).toString('hex')}`;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
    await admin('POST', '/mod/plugin/', {
      module: 'oidc',
      name: PLUGIN,
      display_name: 'OpenID Connect for koa-session-openid tests',
      parameters: {
        iss: issuer,
        'jwks-private': JSON.stringify({ keys: [jwk] }),
        'default-kid': kid,
        'jwks-show': true,
        'subject-type': 'public',
        'access-token-duration': o.accessTokenDuration,
        'refresh-token-duration': 1_209_600,
        'code-duration': 600,
        'refresh-token-rolling': true,
        'refresh-token-one-use': o.refreshTokenOneUse,
        // RFC 9207: the authorization response carries `iss` (not advertised in the discovery document).
        'oauth-as-iss-id': true,
        'allow-non-oidc': false,
        'auth-type-code-enabled': true,
        'auth-type-code-revoke-replayed': true,
        'auth-type-token-enabled': false,
        'auth-type-none-enabled': false,
        'auth-type-password-enabled': false,
        'auth-type-client-enabled': false,
        'auth-type-device-enabled': false,
        'auth-type-refresh-enabled': true,
        'allowed-scope': o.scopes.includes('openid') ? o.scopes : ['openid', ...o.scopes],
        scope: [],
        'additional-parameters': [],
        claims: [],
        'name-claim': 'no',
        'name-claim-scope': ['profile'],
        'email-claim': 'no',
        'email-claim-scope': ['email'],
        'scope-claim': 'no',
        'pkce-allowed': true,
        'pkce-method-plain-allowed': false,
        'introspection-revocation-allowed': true,
        'introspection-revocation-allow-target-client': true,
        'session-management-allowed': true,
        'session-cookie-name': 'GLEWLWYD2_OIDC_SID',
        'session-cookie-expiration': 2_419_200,
        // Logout tokens, and the end-session page's list (Glewlwyd answers it 400 without front-channel logout).
        'back-channel-logout-allowed': true,
        'front-channel-logout-allowed': true,
        'resource-allowed': true,
        'resource-scope': {},
        'resource-client-property': 'resource',
        'resource-scope-and-client-property': false,
      },
    });

    // 3. The plugin is live.
    const discoveryUrl = `${issuer}/.well-known/openid-configuration`;
    const discovery = await fetch(discoveryUrl, { signal: AbortSignal.timeout(5000) });
    const metadata = discovery.ok ? ((await discovery.json()) as { issuer?: string }) : undefined;
    if (metadata?.issuer !== issuer) {
      throw new Error(`Glewlwyd's discovery document is not there or names another issuer (${discovery.status} ${JSON.stringify(metadata?.issuer)}). Its log:\n${log()}`);
    }

    // 4. Scopes (`openid` ships with the database).
    for (const scope of o.scopes) {
      const res = await fetch(`${base}/api/scope/${encodeURIComponent(scope)}`, { headers: { cookie: adminCookie }, signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      if (res.status === 404) {
        await admin('POST', '/scope/', { name: scope, display_name: scope, description: `the ${scope} scope`, password_required: false, password_max_age: 0 });
      } else if (res.status !== 200) {
        throw new Error(`Glewlwyd admin API GET /api/scope/${scope}: ${res.status}`);
      }
    }

    // 5. The user.
    await admin('POST', '/user/', { username: o.username, password: o.password, name: o.name, email: o.email, scope: o.scopes, enabled: true });

    // 6. The client module learns `post_logout_redirect_uris`, the list the OIDC plugin reads (see
    //    the quirks). PUT stores the parameters, `reset` reloads the module with them.
    const clientModule = await admin<{ display_name: string; order_rank: number; readonly: boolean; parameters: { 'data-format': Record<string, unknown> } }>('GET', '/mod/client/database');
    clientModule.parameters['data-format'].post_logout_redirect_uris = { multiple: true, read: true, write: true };
    const { display_name, order_rank, readonly, parameters } = clientModule;
    await admin('PUT', '/mod/client/database', { display_name, order_rank, readonly, parameters });
    await admin('PUT', '/mod/client/database/reset');

    // 7. The confidential client. Flags are strings: the plugin reads "true"/"1"/"yes" only.
    await admin('POST', '/client/', {
      client_id: o.clientId,
      client_secret: o.clientSecret,
      name: 'koa-session-openid test app',
      description: 'confidential client of the interop tests',
      confidential: true,
      enabled: true,
      scope: [],
      redirect_uri: [o.redirectUri],
      authorization_type: ['code', 'refresh_token'],
      token_endpoint_auth_method: o.tokenEndpointAuthMethods,
      ...(o.resources.length ? { resource: o.resources } : {}),
      ...(o.postLogoutRedirectUris.length ? { post_logout_redirect_uris: o.postLogoutRedirectUris } : {}),
      ...(o.backchannelLogoutUri ? { backchannel_logout_uri: o.backchannelLogoutUri, backchannel_logout_session_required: 'true' } : {}),
      ...(o.frontchannelLogoutUri ? { frontchannel_logout_uri: o.frontchannelLogoutUri, frontchannel_logout_session_required: 'true' } : {}),
      ...o.clientProperties,
    });

    /** A call to Glewlwyd's API as the user of `browser` (its cookie jar); throws unless 200. */
    const asUser = async (browser: Browser, method: string, path: string, body?: unknown): Promise<Response> => {
      const url = `${base}/api${path}`;
      const cookie = browser.cookieHeader(url);
      const res = await fetch(url, {
        method,
        headers: { ...(cookie ? { cookie } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      });
      browser.store(url, res);
      if (res.status !== 200) throw new Error(`Glewlwyd ${method} /api${path}: ${await describe(res)}`);
      return res;
    };

    /**
     * The end-session page (login page with `prompt=end_session`) and the user pressing "Log out":
     * see `follow`. Returns where the browser goes next, or `undefined` to stay.
     */
    const logOutAtEndSessionPage = async (browser: Browser, page: URL, urls: string[]): Promise<URL | undefined> => {
      const param = (name: string) => page.searchParams.get(name) ?? undefined;
      const sid = param('sid');
      if (!sid) throw new Error(`Glewlwyd's end-session page was given no sid: ${page.href}`);
      const { frontchannelLogoutUrls, postRedirectTo } = await instance.endSessionPage(browser, sid, param('client_id'), param('post_redirect_to'));
      for (const url of frontchannelLogoutUrls) {
        urls.push(url);
        await (await fetch(url, { signal: AbortSignal.timeout(5000) })).body?.cancel();
      }
      await instance.endSession(browser, sid);
      await (await asUser(browser, 'DELETE', '/auth/')).body?.cancel();
      const callback = param('callback_url');
      return postRedirectTo && callback ? new URL(callback) : undefined;
    };

    const loginPage = `${base}/login.html`;
    const isLoginPage = (u: URL) => u.origin === base && u.pathname === '/login.html';
    const instance: Glewlwyd = {
      base,
      issuer,
      discoveryUrl,
      clientId: o.clientId,
      clientSecret: o.clientSecret,
      username: o.username,
      password: o.password,
      name: o.name,
      email: o.email,
      scopes: [...o.scopes],
      kid,
      admin,
      log,
      async authenticate(browser, scopes = o.scopes) {
        await (await asUser(browser, 'POST', '/auth/', { username: o.username, password: o.password })).body?.cancel();
        // Space-separated, whatever the API documentation says.
        await (await asUser(browser, 'PUT', `/auth/grant/${encodeURIComponent(o.clientId)}/`, { scope: scopes.join(' ') })).body?.cancel();
      },
      async endSessionPage(browser, sid, clientId = o.clientId, postRedirectTo) {
        const query = postRedirectTo === undefined ? '' : `?post_redirect_to=${encodeURIComponent(postRedirectTo)}`;
        const res = await asUser(browser, 'GET', `/${PLUGIN}/session/${encodeURIComponent(sid)}/${encodeURIComponent(clientId)}${query}`);
        const page = (await res.json()) as { iss: string; sid: string; post_redirect_to?: string; client: { frontchannel_logout_uri: string; frontchannel_logout_session_required: boolean }[] };
        return {
          frontchannelLogoutUrls: page.client.map((c) => `${c.frontchannel_logout_uri}?iss=${page.iss}${c.frontchannel_logout_session_required ? `&sid=${page.sid}` : ''}`),
          ...(page.post_redirect_to ? { postRedirectTo: page.post_redirect_to } : {}),
        };
      },
      async endSession(browser, sid) {
        await (await asUser(browser, 'DELETE', `/${PLUGIN}/session/${encodeURIComponent(sid)}`)).body?.cancel();
      },
      loginPage,
      async follow(browser, url, options = {}) {
        const { authenticate = true, stopAt, ...rest } = options;
        const userStop = stopAt === undefined ? () => false : typeof stopAt === 'string' ? (u: URL) => u.href.startsWith(stopAt) : stopAt;
        const urls: string[] = [];
        let next: FollowOptions = { ...rest };
        let current = new URL(url);
        // Glewlwyd sends an authorization request to its login page once; a second visit for the same request would loop.
        for (let visits = 0; ; visits++) {
          const result = await browser.follow(current, { ...next, stopAt: (u) => isLoginPage(u) || userStop(u) });
          urls.push(...result.urls);
          const page = result.stoppedAt;
          if (!page || !isLoginPage(page)) return { ...result, urls };
          const prompt = page.searchParams.get('prompt');
          if (prompt !== 'end_session' && (!authenticate || prompt === 'single_logout')) return { ...result, urls };
          if (visits >= 3) throw new Error(`Glewlwyd keeps sending the browser to its login page; visited:\n${urls.join('\n')}`);
          if (prompt === 'end_session') {
            const after = await logOutAtEndSessionPage(browser, page, urls);
            if (!after) return { ...result, urls };
            await result.response.body?.cancel();
            current = after;
            next = { maxHops: rest.maxHops, autoSubmit: rest.autoSubmit };
            continue;
          }
          await result.response.body?.cancel();
          const callback = page.searchParams.get('callback_url');
          if (!callback || !callback.startsWith(`${issuer}/`)) throw new Error(`Glewlwyd's login page was given no callback_url of its own: ${page.href}`);
          await instance.authenticate(browser);
          current = new URL(`${callback}${callback.includes('?') ? '&' : '?'}g_continue`);
          next = { maxHops: rest.maxHops, autoSubmit: rest.autoSubmit };
        }
      },
      close: cleanup,
    };
    return instance;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
