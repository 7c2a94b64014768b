/**
 * `koa-session-openid dev-provider` as a user runs it: the real command (src/dev-provider/cli.ts
 * under tsx) in a child process on a free port, driven over HTTP with openid-client and the test
 * Browser through the provider's own login and consent forms.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import Koa from 'koa';
import * as oidc from 'openid-client';

import { OpenID } from '../../src/index.js';

import { authorizationRequest } from '../support/authorization-request.js';
import { Browser } from '../support/http-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CALLBACK = 'http://127.0.0.1:1/cb'; // never requested: Browser.follow stops there

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function command(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; finished: Promise<Finished> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev-provider/cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const finished = new Promise<Finished>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => ({ stdout, stderr }), finished };
}

/** Runs the command to its end (it must end by itself within 30 s). */
async function runToEnd(args: string[]): Promise<Finished> {
  const { child, finished } = command(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    return await finished;
  } finally {
    clearTimeout(timer);
  }
}

interface Running {
  child: ChildProcess;
  issuer: string;
  discovery: string;
  stdout: () => string;
  /** SIGINT, then the exit. */
  stop(): Promise<Finished>;
}

/** Starts the provider and waits for its discovery line. */
async function startCommand(args: string[]): Promise<Running> {
  const { child, output, finished } = command(['dev-provider', '--port', '0', ...args]);
  const deadline = Date.now() + 30_000;
  let match: RegExpExecArray | null = null;
  while (!(match = /^ {2}discovery +(\S+)$/m.exec(output().stdout))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const { code, stdout, stderr } = await finished;
      assert.fail(`the provider did not start (exit ${code}):\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const discovery = match[1]!;
  const issuer = /^ {2}issuer +(\S+)$/m.exec(output().stdout)![1]!;
  return {
    child,
    issuer,
    discovery,
    stdout: () => output().stdout,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await finished;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function configFor(issuer: string, clientId: string, secret: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
}

/** A code-flow login through the provider's login form (as `user`, any password) and its consent form. */
async function formLogin(browser: Browser, config: oidc.Configuration, user: string, params: Record<string, string> = {}) {
  const { url, verifier, state, nonce } = await authorizationRequest(config, CALLBACK, params);
  let step = await browser.follow(url, { stopAt: CALLBACK });
  const pages: string[] = [];
  while (!step.stoppedAt) {
    assert.ok(pages.length < 3, `too many interaction pages: ${pages.join(', ')}`);
    const html = await step.response.text();
    const action = /<form autocomplete="off" action="([^"]+)"/.exec(html);
    assert.ok(action, `an interaction page with a form; got ${step.response.status} at ${step.urls.at(-1)}:\n${html.slice(0, 500)}`);
    const isLogin = /<input required type="text" name="login"/.test(html);
    pages.push(isLogin ? 'login' : 'consent');
    step = await browser.follow(new URL(action[1]!, step.urls.at(-1)), {
      form: isLogin ? { prompt: 'login', login: user, password: 'any password' } : { prompt: 'consent' },
      stopAt: CALLBACK,
    });
  }
  const tokens = await oidc.authorizationCodeGrant(config, step.stoppedAt, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  return { tokens, pages };
}

describe('koa-session-openid dev-provider: the command line', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const { code, stdout, stderr } = await runToEnd(['dev-provider', '--help']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Usage: koa-session-openid dev-provider --client <id>:<secret>:<redirect-uri> \[options\]/);
    for (const option of ['--client', '--port', '--issuer-host', '--refresh-tokens', '--audience', '--api-scope', '--backchannel-logout', '--post-logout-redirect-uri', '--help']) {
      assert.match(stdout, new RegExp(`\\n  (?:-h, )?${option}\\b`), `${option} is documented`);
    }
    assert.equal(stderr, '');
  });

  it('a malformed --client exits 2 with a message naming the expected form', async () => {
    const { code, stdout, stderr } = await runToEnd(['dev-provider', '--client', 'my-app:http://127.0.0.1:3000/cb']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^koa-session-openid: --client "my-app:http:\/\/127\.0\.0\.1:3000\/cb": the redirect URI "\/\/127\.0\.0\.1:3000\/cb" is not an absolute http\(s\) URL/);
    assert.match(stderr, /expected <client-id>:<client-secret>:<redirect-uri>, e\.g\. --client my-app:dev-secret:http:\/\/127\.0\.0\.1:3000\/openid\/dev\/auth/);
    assert.match(stderr, /Run "koa-session-openid dev-provider --help" for the options\.\n$/);
  });

  it('other usage errors exit 2 too: no --client, an unknown option, no command', async () => {
    const missing = await runToEnd(['dev-provider']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^koa-session-openid: no --client given;/);
    const unknown = await runToEnd(['dev-provider', '--client', 'a:b:http://127.0.0.1/cb', '--verbose']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^koa-session-openid: Unknown option '--verbose'/);
    const none = await runToEnd(['--client', 'a:b:http://127.0.0.1/cb']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^koa-session-openid: no command given; the command is "dev-provider"/);
  });
});

describe('koa-session-openid dev-provider: one client', () => {
  let op: Running;
  before(async () => {
    op = await startCommand(['--client', 'my-app:dev-secret:http://127.0.0.1:3000/openid/dev/auth']);
  });
  after(() => op.stop());

  it('prints its discovery URL and the client, and serves the discovery document of that issuer', async () => {
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(op.discovery, `${op.issuer}/.well-known/openid-configuration`);
    assert.match(op.stdout(), /^ {2}client my-app\n {4}secret +dev-secret\n {4}redirect URI +http:\/\/127\.0\.0\.1:3000\/openid\/dev\/auth$/m);
    const response = await fetch(op.discovery);
    assert.equal(response.status, 200);
    const meta = (await response.json()) as Record<string, unknown>;
    assert.equal(meta.issuer, op.issuer);
    assert.equal(meta.authorization_endpoint, `${op.issuer}/auth`);
    assert.equal(meta.backchannel_logout_supported, undefined, 'off without --backchannel-logout');
    const config = await configFor(op.issuer, 'my-app', 'dev-secret');
    assert.equal(config.serverMetadata().issuer, op.issuer);
  });

  it('refuses a second provider on its port: exit 1 with a message', async () => {
    const port = new URL(op.issuer).port;
    const { code, stderr } = await runToEnd(['dev-provider', '--port', port, '--client', 'a:b:http://127.0.0.1/cb']);
    assert.equal(code, 1);
    assert.equal(stderr, `koa-session-openid: port ${port} on 127.0.0.1 is already in use (another development provider still running?): pick another port\n`);
  });

  it('stops on Ctrl+C (SIGINT) with exit code 0', async () => {
    const { code, signal } = await op.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });
});

describe('koa-session-openid dev-provider: --audience, --api-scope, --refresh-tokens, logout URIs', () => {
  const AUDIENCE = 'https://api.example.test';
  let op: Running;
  let receiver: Server;
  let app: string;
  const logoutTokens: string[] = [];

  before(async () => {
    // The app's back-channel logout endpoint: records the logout tokens it gets.
    receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        const token = new URLSearchParams(body).get('logout_token');
        if (req.method === 'POST' && token) logoutTokens.push(token);
        res.writeHead(200, { 'cache-control': 'no-store' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    app = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    op = await startCommand([
      '--client', `my-app:dev-secret:${CALLBACK}`,
      '--audience', AUDIENCE,
      '--api-scope', 'api:read',
      '--api-scope', 'api:write',
      '--refresh-tokens',
      '--backchannel-logout', `my-app=${app}/openid/dev/backchannel-logout`,
      '--post-logout-redirect-uri', `my-app=${app}/openid/dev/logged-out`,
    ]);
  });
  after(async () => {
    await op?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('advertises back-channel logout (with sid) and RP-initiated logout', async () => {
    const meta = (await (await fetch(op.discovery)).json()) as Record<string, unknown>;
    assert.equal(meta.backchannel_logout_supported, true);
    assert.equal(meta.backchannel_logout_session_supported, true);
    assert.equal(meta.end_session_endpoint, `${op.issuer}/session/end`);
    assert.match(op.stdout(), new RegExp(`access tokens +JWTs for the audience ${AUDIENCE}, scopes: api:read api:write`));
    assert.match(op.stdout(), /back-channel logout URI +http:\/\/127\.0\.0\.1:\d+\/openid\/dev\/backchannel-logout/);
  });

  it('a code-flow login through the login form gets a JWT access token for the audience, and a refresh token', async () => {
    const config = await configFor(op.issuer, 'my-app', 'dev-secret');
    const { tokens, pages } = await formLogin(new Browser(), config, 'dana', { scope: 'openid profile api:read' });
    assert.deepEqual(pages, ['login', 'consent']);

    assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: op.issuer, audience: AUDIENCE, algorithms: ['RS256'] });
    assert.equal(payload.aud, AUDIENCE);
    assert.equal(payload.sub, 'dana');
    assert.equal(payload.client_id, 'my-app');
    assert.equal(payload.scope, 'api:read', 'the API scope asked for, not api:write');

    // What an API of the app checks: the library's own access-token verification.
    const api = new OpenID(new Koa(), { name: 'dev', clientId: 'my-app', configuration: op.discovery, allowInsecureRequests: true, routes: false });
    assert.equal((await api.verifyToken(tokens.access_token, { audience: AUDIENCE })).sub, 'dana');

    // Userinfo refuses a token for the API: the profile claims are in the ID token instead.
    assert.equal(tokens.claims()?.sub, 'dana');
    assert.equal(tokens.claims()?.preferred_username, 'dana');

    // --refresh-tokens: no offline_access or prompt=consent needed.
    assert.ok(tokens.refresh_token, 'a refresh token');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(decodeJwt(refreshed.access_token).aud, AUDIENCE);
    assert.equal(refreshed.claims()?.sub, 'dana');
  });

  it('logs out through end_session: posts a logout token with sid to the back-channel URI, redirects to the post-logout URI', async () => {
    const config = await configFor(op.issuer, 'my-app', 'dev-secret');
    const browser = new Browser();
    const { tokens } = await formLogin(browser, config, 'erin');
    const sid = tokens.claims()?.sid;
    assert.ok(sid, 'the ID token has a sid');

    const end = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${app}/openid/dev/logged-out`,
      state: 'st',
    });
    const page = await browser.get(end);
    assert.equal(page.status, 200);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"\/>/.exec(await page.text());
    assert.ok(form, "oidc-provider's logout confirmation form");
    const before = logoutTokens.length;
    const confirmed = await browser.post(new URL(form[1]!, end), { xsrf: form[2]!, logout: 'yes' });
    assert.equal(confirmed.status, 303);
    assert.equal(confirmed.headers.get('location'), `${app}/openid/dev/logged-out?state=st`);

    assert.equal(logoutTokens.length, before + 1, 'one logout token, posted to 127.0.0.1 before the redirect');
    const logout = decodeJwt(logoutTokens.at(-1)!);
    assert.equal(logout.iss, op.issuer);
    assert.equal(logout.aud, 'my-app');
    assert.equal(logout.sub, 'erin');
    assert.equal(logout.sid, sid);
  });
});
