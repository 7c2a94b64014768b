import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { OpenIDError, type OpenIDError as OpenIDErrorType } from '../src/index.js';
import { startHostileApp } from './support/hostile-app.js';

test('an error keeps the kind of its cause, never its payload', () => {
  const cause = Object.assign(new Error('unexpected JWT "aud" in eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'), {
    code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
    payload: { access_token: 'secret-access-token' },
    cause: { body: { refresh_token: 'secret-refresh-token' }, message: 'inner' },
  });
  const err = new OpenIDError('invalid_id_token', 'the ID token failed a check', { cause });
  const shown = inspect(err, { depth: null });
  assert.match(shown, /OAUTH_JWT_CLAIM_COMPARISON_FAILED/);
  assert.doesNotMatch(shown, /secret-|eyJ/);
  assert.equal(err.expose, true);
  assert.equal(new OpenIDError('provider_unavailable', 'down').expose, false);
});

test('a garbled token response leaves no token in the error a hook or a logger sees', async () => {
  const seen: OpenIDErrorType[] = [];
  const fx = await startHostileApp({
    handleError: (ctx, err) => {
      seen.push(err);
      ctx.status = err.status;
      ctx.body = err.toJSON();
    },
  });
  try {
    fx.op.onToken(async (ctx) => {
      const answer = await fx.op.tokenAnswer(ctx);
      return { json: { ...(answer as { json: Record<string, unknown> }).json, token_type: 42 } };
    });
    const res = await fx.login();
    assert.equal(res.status, 502);
    assert.equal(seen.length, 1);
    assert.doesNotMatch(inspect(seen[0], { depth: null }), /eyJ|access_token/);
  } finally {
    await fx.close();
  }
});
