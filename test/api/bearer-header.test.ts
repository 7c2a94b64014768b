/**
 * RFC 6750 header handling: `readBearer` takes the token from `Authorization: Bearer` only (§2.1)
 * and refuses every other form with `invalid_request` (401); `bearerChallenge` builds the §3
 * `WWW-Authenticate` value.
 */
import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';

import Koa from 'koa';

import { bearerChallenge, readBearer } from '../../src/api/bearer-header.js';
import { OpenIDError } from '../../src/errors.js';

/** A Koa context for a GET of `url` with these raw header lines (as Node would parse them). */
function contextWith(lines: Array<[string, string]>, url = '/api') {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = url;
  req.rawHeaders = lines.flat();
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  req.headers = headers;
  return new Koa().createContext(req, new ServerResponse(req));
}

const read = (lines: Array<[string, string]>, url?: string) => readBearer(contextWith(lines, url));

function isInvalidRequest(err: unknown): true {
  assert.ok(err instanceof OpenIDError, `not an OpenIDError: ${String(err)}`);
  assert.equal(err.code, 'invalid_request');
  assert.equal(err.status, 401);
  return true;
}

describe('readBearer', () => {
  test('no Authorization header: undefined', () => {
    assert.equal(read([]), undefined);
    assert.equal(read([['cookie', 'a=b']]), undefined);
  });

  test('"Bearer <token>" gives the token', () => {
    assert.equal(read([['Authorization', 'Bearer abc.def.ghi']]), 'abc.def.ghi');
  });

  test('the scheme is case-insensitive (RFC 7235 §2.1) and 1*SP may be several spaces', () => {
    assert.equal(read([['authorization', 'bearer tok']]), 'tok');
    assert.equal(read([['AUTHORIZATION', 'BEARER tok']]), 'tok');
    assert.equal(read([['Authorization', 'Bearer    tok']]), 'tok');
  });

  test('every b64token character (RFC 6750 §2.1), trailing "=" padding included', () => {
    const token = 'AZaz09-._~+/xyz==';
    assert.equal(read([['Authorization', `Bearer ${token}`]]), token);
  });

  test('another scheme, or an empty value, is no bearer token (RFC 6750 §3.1: no authentication information): undefined', () => {
    for (const value of ['Basic dXNlcjpwYXNz', 'Token abc', 'Digest username="u"', 'Bearertoken', 'NotBearer abc', '']) {
      assert.equal(read([['Authorization', value]]), undefined, JSON.stringify(value));
    }
  });

  const malformed: Array<[string, string]> = [
    ['the scheme alone', 'Bearer'],
    ['two tokens', 'Bearer abc def'],
    ['two credentials joined by a comma', 'Bearer abc, Bearer def'],
    ['"=" inside the token', 'Bearer ab=cd'],
    ['a quoted token', 'Bearer "abc"'],
    ['a percent-encoded token', 'Bearer abc%20def'],
    ['a tab instead of a space', 'Bearer\tabc'],
    ['a token with a comma', 'Bearer abc,def'],
    ['auth-params instead of a token', 'Bearer token="abc"'],
    ['non-ASCII in the token', 'Bearer abcé'],
  ];
  for (const [what, value] of malformed) {
    test(`${what}: invalid_request 401`, () => {
      assert.throws(() => read([['Authorization', value]]), isInvalidRequest);
    });
  }

  test('two Authorization headers: invalid_request, even when both are well formed', () => {
    assert.throws(() => read([['Authorization', 'Bearer abc'], ['Authorization', 'Bearer abc']]), isInvalidRequest);
    assert.throws(() => read([['authorization', 'Bearer abc'], ['Authorization', 'Bearer def']]), isInvalidRequest);
  });

  test('the value comes from ctx.headers: a middleware that removes or rewrites it is obeyed', () => {
    const removed = contextWith([['Authorization', 'Bearer abc']]);
    delete removed.req.headers.authorization;
    assert.equal(readBearer(removed), undefined);
    const rewritten = contextWith([['Authorization', 'Bearer abc']]);
    rewritten.req.headers.authorization = 'Bearer exchanged';
    assert.equal(readBearer(rewritten), 'exchanged');
  });

  test('an oversized header: invalid_request', () => {
    assert.throws(() => read([['Authorization', `Bearer ${'a'.repeat(17 * 1024)}`]]), isInvalidRequest);
  });

  test('a token in the query string (RFC 6750 §2.3): invalid_request, with or without a header', () => {
    assert.throws(() => read([], '/api?access_token=abc'), isInvalidRequest);
    assert.throws(() => read([], '/api?x=1&access_token='), isInvalidRequest);
    assert.throws(() => read([['Authorization', 'Bearer abc']], '/api?access_token=abc'), isInvalidRequest);
  });

  test('a percent-encoded "access_token" parameter name is still a token in the query string', () => {
    // URLSearchParams decodes "access%5Ftoken" to "access_token": it is the same parameter.
    assert.throws(() => read([], '/api?access%5Ftoken=abc'), isInvalidRequest);
    assert.throws(() => read([['Authorization', 'Bearer abc']], '/api?access%5ftoken=abc'), isInvalidRequest);
  });

  test('query parameters that only mention access_token are fine', () => {
    assert.equal(read([['Authorization', 'Bearer abc']], '/api?q=access_token%3Dx&note=access_token'), 'abc');
    assert.equal(read([['Authorization', 'Bearer abc']], '/api?my_access_token=x'), 'abc');
  });
});

describe('bearerChallenge', () => {
  test('no error (no token sent): the realm only, no error attributes (RFC 6750 §3.1)', () => {
    assert.equal(bearerChallenge('api'), 'Bearer realm="api"');
  });

  test('invalid_token: error and error_description', () => {
    const err = new OpenIDError('invalid_token', 'the token has expired');
    assert.equal(bearerChallenge('api', err), 'Bearer realm="api", error="invalid_token", error_description="the token has expired"');
  });

  test('invalid_request keeps its code', () => {
    const err = new OpenIDError('invalid_request', 'bad header', { status: 401 });
    assert.equal(bearerChallenge('api', err), 'Bearer realm="api", error="invalid_request", error_description="bad header"');
  });

  test('insufficient_scope names the required scopes', () => {
    const err = new OpenIDError('insufficient_scope', 'the token lacks a required scope');
    assert.equal(
      bearerChallenge('api', err, ['read', 'write']),
      'Bearer realm="api", error="insufficient_scope", error_description="the token lacks a required scope", scope="read write"',
    );
  });

  test('the scope attribute is only sent with insufficient_scope', () => {
    const err = new OpenIDError('invalid_token', 'nope');
    assert.ok(!bearerChallenge('api', err, ['read']).includes('scope='));
  });

  test('other codes are reported as invalid_token (the only other RFC 6750 error)', () => {
    for (const code of ['login_required', 'invalid_id_token'] as const) {
      assert.match(bearerChallenge('api', new OpenIDError(code, 'x')), /error="invalid_token"/);
    }
  });

  test('quoted-string values never hold a quote, a backslash or non-ASCII (RFC 6750 §3)', () => {
    const value = bearerChallenge('my "realm"\\', new OpenIDError('invalid_token', 'a "quoted" \\ déjà\r\nX-Injected: 1'));
    const quoted = [...value.matchAll(/="((?:[^"\\])*)"/g)].map((m) => m[1]);
    assert.equal(quoted.length, 3);
    assert.match(value, /^[\x20-\x7e]+$/, 'printable ASCII only (no CR/LF)');
    assert.equal(value.split('"').length - 1, 6, 'only the delimiting quotes');
    assert.ok(!value.includes('\\'));
  });
});
