/**
 * Self-test of the hostile provider with openid-client alone (no library code): an honest login
 * passes, and crafted answers fail the way a careful relying party should notice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as oidc from 'openid-client';
import { authorizationRequest } from './authorization-request.js';

import {
  startHostileProvider,
  tamperSignature,
  validIdTokenClaims,
  type HostileProvider,
} from './hostile-provider.js';

const CALLBACK = 'http://127.0.0.1:1/cb'; // never requested

describe('hostile provider', () => {
  let op: HostileProvider;
  let config: oidc.Configuration;

  before(async () => {
    op = await startHostileProvider({ clientId: 'app' });
    op.discovery.authorization_response_iss_parameter_supported = true;
    config = await oidc.discovery(new URL(op.issuer), 'app', 'secret', undefined, {
      execute: [oidc.allowInsecureRequests],
    });
  });
  after(() => op.close());

  /** Authorize (fetched by hand), then the code grant; `verifier` may be replaced to break PKCE. */
  async function login(verifier = oidc.randomPKCECodeVerifier(), sentVerifier = verifier) {
    const { url, state, nonce } = await authorizationRequest(config, CALLBACK, {}, verifier);
    const answer = await fetch(url, { redirect: 'manual' });
    assert.equal(answer.status, 302);
    const callback = new URL(answer.headers.get('location')!);
    return oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: sentVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
  }

  it('lets a valid login through, with iss parameter, PKCE and a signed ID token', async () => {
    op.onToken(undefined);
    const tokens = await login();
    assert.equal(tokens.claims()?.sub, 'alice');
    assert.equal(tokens.claims()?.aud, 'app');
    assert.equal(op.tokenRequests.at(-1)?.body.get('code_verifier')?.length, 43);
    assert.equal((await oidc.fetchUserInfo(config, tokens.access_token, 'alice')).sub, 'alice');
  });

  it('gets an ID token for another audience rejected', async () => {
    op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), aud: 'someone-else' }));
    await assert.rejects(login(), { code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' });
  });

  it('answers invalid_grant to a wrong PKCE verifier', async () => {
    op.onToken(undefined);
    await assert.rejects(login(oidc.randomPKCECodeVerifier(), oidc.randomPKCECodeVerifier()), {
      error: 'invalid_grant',
    });
  });

  it('serves rotated keys; a tampered signature fails non-repudiation checks', async () => {
    const checked = await oidc.discovery(new URL(op.issuer), 'app', 'secret', undefined, {
      execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
    });
    const previous = config;
    config = checked;
    try {
      await op.keys.rotate(undefined, { keepOld: false });
      assert.equal(op.keys.published.length, 1);
      op.onToken(undefined);
      assert.equal((await login()).claims()?.sub, 'alice');
      const jwks = op.jwksRequests;
      assert.ok(jwks >= 1);
      op.onToken(async (ctx) => op.tokenAnswer(ctx, tamperSignature(await op.sign(validIdTokenClaims(ctx)))));
      await assert.rejects(login(), { code: 'OAUTH_INVALID_RESPONSE' });
    } finally {
      config = previous;
      op.onToken(undefined);
    }
  });

  it('destroys connections while down', async () => {
    op.down = true;
    try {
      await assert.rejects(fetch(op.discoveryUrl));
    } finally {
      op.down = false;
    }
    assert.equal((await fetch(op.discoveryUrl)).status, 200);
  });
});
