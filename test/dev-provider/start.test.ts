/**
 * The dev provider (`startDevProvider`), driven by openid-client and the test Browser (no library
 * code): automatic logins, progressive consent, refresh tokens, setAccount, native clients, the
 * interactive devInteractions forms whose selectors the demo and the browser test rely on, and the
 * options the command line uses (issuerHost, refreshTokens, audience, back-channel logout).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodeJwt } from 'jose';

import * as oidc from 'openid-client';

import { authorizationRequest } from '../support/authorization-request.js';
import { Browser } from '../support/http-client.js';
import { startDevProvider, type DevProvider } from '../../src/dev-provider/index.js';

const CALLBACK = 'http://127.0.0.1:1/cb'; // never requested: Browser.follow stops there

const clients = [
  {
    client_id: 'web',
    client_secret: 'web-secret',
    redirect_uris: [CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
  },
  {
    client_id: 'native',
    client_secret: 'native-secret',
    application_type: 'native' as const,
    redirect_uris: [CALLBACK],
  },
];

async function configFor(op: DevProvider, clientId: string): Promise<oidc.Configuration> {
  const secret = clients.find((c) => c.client_id === clientId)!.client_secret;
  return oidc.discovery(new URL(op.issuer), clientId, secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
}

/** A code-flow login in `browser`; `answer` handles interaction pages (interactive mode). */
async function login(
  browser: Browser,
  config: oidc.Configuration,
  params: Record<string, string> = {},
  answer?: (page: Response, url: string) => Promise<URL>,
) {
  const { url, verifier, state, nonce } = await authorizationRequest(config, CALLBACK, params);
  const { response, urls, stoppedAt } = await browser.follow(url, { stopAt: CALLBACK });
  const callback = stoppedAt ?? (await answer?.(response, urls.at(-1)!));
  assert.ok(callback, `no redirect to the callback; ended on ${urls.at(-1)} (${response.status})`);
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  return { tokens, urls };
}

describe('dev provider, non-interactive', () => {
  let op: DevProvider;
  let web: oidc.Configuration;

  before(async () => {
    op = await startDevProvider({ clients, ttl: { AccessToken: 120 } });
    web = await configFor(op, 'web');
  });
  after(() => op.close());

  it('serves a discovery document for its issuer, with the RFC 9207 iss parameter and S256', () => {
    const meta = web.serverMetadata();
    assert.equal(meta.issuer, op.issuer);
    assert.ok(!op.issuer.endsWith('/'));
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.ok(meta.introspection_endpoint && meta.revocation_endpoint && meta.userinfo_endpoint);
  });

  it('logs alice in, signs RS256, keeps email claims for userinfo, applies the ttl passthrough', async () => {
    const { tokens } = await login(new Browser(), web, { scope: 'openid email profile' });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.email, undefined);
    assert.equal(JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()).alg, 'RS256');
    assert.equal(tokens.expires_in, 120);
    assert.equal(tokens.refresh_token, undefined);
    const info = await oidc.fetchUserInfo(web, tokens.access_token, 'alice');
    assert.equal(info.email, 'alice@example.test');
    assert.equal(info.preferred_username, 'alice');
  });

  it('grants extra scopes on a later login (progressive consent)', async () => {
    const browser = new Browser();
    await login(browser, web, { scope: 'openid' });
    const { tokens, urls } = await login(browser, web, { scope: 'openid email' });
    assert.equal(urls.filter((u) => u.includes('/interaction/')).length, 1, 'consent only, no login');
    assert.equal((await oidc.fetchUserInfo(web, tokens.access_token, 'alice')).email, 'alice@example.test');
  });

  it('issues a refresh token for offline_access with prompt=consent, and refreshes', async () => {
    const browser = new Browser();
    const { tokens } = await login(browser, web, { scope: 'openid offline_access', prompt: 'consent' });
    assert.ok(tokens.refresh_token);
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token);
    assert.equal(refreshed.claims()?.sub, 'alice');
    // Asked again with prompt=consent: nothing missing, still answered.
    const again = await login(browser, web, { scope: 'openid offline_access', prompt: 'consent' });
    assert.ok(again.tokens.refresh_token);
  });

  it('switches account after setAccount, even with a provider session', async () => {
    const browser = new Browser();
    await login(browser, web);
    op.setAccount('bob');
    try {
      const { tokens } = await login(browser, web);
      assert.equal(tokens.claims()?.sub, 'bob');
    } finally {
      op.setAccount('alice');
    }
  });

  it('answers prompt=none with login_required when there is no session', async () => {
    await assert.rejects(login(new Browser(), web, { prompt: 'none' }), { error: 'login_required' });
  });

  it('finishes the consent that native clients always get', async () => {
    const native = await configFor(op, 'native');
    const browser = new Browser();
    await login(browser, native);
    const { tokens, urls } = await login(browser, native);
    assert.equal(tokens.claims()?.sub, 'alice');
    assert.equal(urls.filter((u) => u.includes('/interaction/')).length, 1);
  });

  it('restarts on the same port with a rotated key set', async () => {
    const port = Number(new URL(op.url).port);
    const oldKeys = op.jwks.keys;
    await op.close();
    const replaced = await startDevProvider({ clients, port });
    try {
      assert.equal(replaced.issuer, op.issuer);
      assert.notEqual(replaced.jwks.keys[0]!.kid, oldKeys[0]!.kid);
    } finally {
      await replaced.close();
      op = await startDevProvider({ clients, port, jwks: { keys: oldKeys } });
    }
  });
});

describe('dev provider, interactive (devInteractions forms)', () => {
  let op: DevProvider;

  before(async () => {
    op = await startDevProvider({ clients, interactive: true });
  });
  after(() => op.close());

  it('accepts any login name through the login and consent forms', async () => {
    const config = await configFor(op, 'web');
    const browser = new Browser();
    const seen: string[] = [];
    const formAction = (html: string, base: string) =>
      new URL(/<form autocomplete="off" action="([^"]+)"/.exec(html)![1]!, base);
    const { tokens } = await login(browser, config, { scope: 'openid email' }, async (page, url) => {
      const loginPage = await page.text();
      assert.match(loginPage, /<input required type="text" name="login"/);
      assert.match(loginPage, /<input required type="password" name="password"/);
      assert.match(loginPage, /<button type="submit" class="login login-submit">Sign-in<\/button>/);
      seen.push('login');
      const consent = await browser.follow(formAction(loginPage, url), {
        form: { prompt: 'login', login: 'carol', password: 'anything' },
        stopAt: CALLBACK,
      });
      const consentPage = await consent.response.text();
      assert.match(consentPage, /<button autofocus type="submit" class="login login-submit">Continue<\/button>/);
      seen.push('consent');
      const done = await browser.follow(formAction(consentPage, consent.urls.at(-1)!), {
        form: { prompt: 'consent' },
        stopAt: CALLBACK,
      });
      return done.stoppedAt!;
    });
    assert.deepEqual(seen, ['login', 'consent']);
    assert.equal(tokens.claims()?.sub, 'carol');
    assert.equal((await oidc.fetchUserInfo(config, tokens.access_token, 'carol')).email, 'carol@example.test');
  });
});

describe('dev provider options', () => {
  it('starts and stops: the issuer, its discovery URL, then nothing listens', async () => {
    const op = await startDevProvider({ clients });
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(op.discovery, `${op.issuer}/.well-known/openid-configuration`);
    assert.equal(((await (await fetch(op.discovery)).json()) as { issuer: string }).issuer, op.issuer);
    await op.close();
    await assert.rejects(fetch(op.discovery), TypeError, 'connection refused once closed');
  });

  it('issuerHost names the issuer; it still listens on 127.0.0.1', async () => {
    const op = await startDevProvider({ clients, issuerHost: 'LocalHost' });
    try {
      const port = new URL(op.issuer).port;
      assert.equal(op.issuer, `http://localhost:${port}`);
      const meta = (await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json()) as Record<string, string>;
      assert.equal(meta.issuer, op.issuer);
      assert.equal(meta.token_endpoint, `http://127.0.0.1:${port}/token`, 'endpoints follow the host a request names');
    } finally {
      await op.close();
    }
    for (const issuerHost of ['localhost:4000', 'http://localhost', 'a b', 'user@localhost', '']) {
      await assert.rejects(startDevProvider({ clients, issuerHost }), { name: 'TypeError', message: /"issuerHost" must be a host name or IP address without port/ });
    }
  });

  it('refuses a port in use with a message', async () => {
    const op = await startDevProvider({ clients });
    try {
      const port = Number(new URL(op.issuer).port);
      await assert.rejects(startDevProvider({ clients, port }), {
        message: `port ${port} on 127.0.0.1 is already in use (another development provider still running?): pick another port`,
      });
    } finally {
      await op.close();
    }
  });

  it('refreshTokens: the client gets the refresh_token grant, and a login without offline_access a refresh token', async () => {
    const op = await startDevProvider({ clients: [{ client_id: 'plain', client_secret: 'plain-secret', redirect_uris: [CALLBACK] }], refreshTokens: true });
    try {
      const config = await oidc.discovery(new URL(op.issuer), 'plain', 'plain-secret', undefined, { execute: [oidc.allowInsecureRequests] });
      const { tokens } = await login(new Browser(), config);
      assert.ok(tokens.refresh_token);
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
      assert.equal(refreshed.claims()?.sub, 'alice');
    } finally {
      await op.close();
    }
  });

  it('audience (not a URI) with apiScopes: JWT access tokens with that aud and the scopes asked; profile claims in the ID token', async () => {
    const op = await startDevProvider({ clients, audience: 'my-api', apiScopes: ['api:read', 'api:admin'] });
    try {
      const web = await configFor(op, 'web');
      const { tokens } = await login(new Browser(), web, { scope: 'openid profile api:admin' });
      const at = decodeJwt(tokens.access_token);
      assert.equal(at.aud, 'my-api');
      assert.equal(at.scope, 'api:admin');
      assert.equal(tokens.claims()?.name, 'Alice Liddell', 'in the ID token: userinfo refuses a token for the API');
      await assert.rejects(oidc.fetchUserInfo(web, tokens.access_token, 'alice'), (err: Error & { cause?: unknown }) => {
        const [challenge] = err.cause as Array<{ parameters: Record<string, string> }>;
        return challenge!.parameters.error === 'invalid_token'; // oidc-provider: "token audience prevents accessing the userinfo endpoint"
      });
    } finally {
      await op.close();
    }
  });

  it('a client with a backchannel_logout_uri turns back-channel logout on', async () => {
    const op = await startDevProvider({
      clients: [{ ...clients[0]!, backchannel_logout_uri: 'http://127.0.0.1:1/bc', backchannel_logout_session_required: true }],
    });
    try {
      const meta = (await (await fetch(op.discovery)).json()) as Record<string, unknown>;
      assert.equal(meta.backchannel_logout_supported, true);
      assert.equal(meta.backchannel_logout_session_supported, true);
    } finally {
      await op.close();
    }
  });
});
