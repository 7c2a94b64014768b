/**
 * `tokenScopes` reads `scope` (RFC 9068 / RFC 7662 / Keycloak: space separated) and `scp` (Azure AD:
 * a string or an array); `missingScopes` lists what a token lacks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { missingScopes, tokenScopes } from '../../src/jwt/scopes.js';

describe('tokenScopes', () => {
  test('"scope" is split on spaces', () => {
    assert.deepEqual(tokenScopes({ scope: 'openid read write' }), ['openid', 'read', 'write']);
  });

  test('"scp" as a string (Azure AD v1) and as an array (Azure AD v2, Okta)', () => {
    assert.deepEqual(tokenScopes({ scp: 'User.Read Files.Read' }), ['User.Read', 'Files.Read']);
    assert.deepEqual(tokenScopes({ scp: ['User.Read', 'Files.Read'] }), ['User.Read', 'Files.Read']);
  });

  test('"scope" and "scp" together are merged without duplicates', () => {
    assert.deepEqual(tokenScopes({ scope: 'read write', scp: ['write', 'admin'] }), ['read', 'write', 'admin']);
  });

  test('repeated, leading and trailing spaces give no empty scope', () => {
    assert.deepEqual(tokenScopes({ scope: '  read   write ' }), ['read', 'write']);
    assert.deepEqual(tokenScopes({ scope: 'read read' }), ['read']);
  });

  test('no scope claims, or claims of another type: no scopes', () => {
    assert.deepEqual(tokenScopes({}), []);
    assert.deepEqual(tokenScopes({ scope: '' }), []);
    for (const value of [42, null, true, { read: true }]) {
      assert.deepEqual(tokenScopes({ scope: value, scp: value }), [], `value ${JSON.stringify(value)}`);
    }
  });

  test('non-string and empty entries of an array are ignored', () => {
    assert.deepEqual(tokenScopes({ scp: ['read', 7, null, '', { x: 1 }, 'write'] }), ['read', 'write']);
  });

  test('other claims that look like scopes are not read ("roles", "scopes")', () => {
    assert.deepEqual(tokenScopes({ roles: ['admin'], scopes: 'admin', permissions: ['admin'] }), []);
  });
});

describe('missingScopes', () => {
  test('every required scope must be granted', () => {
    assert.deepEqual(missingScopes(['read', 'write'], ['read', 'write', 'admin']), []);
    assert.deepEqual(missingScopes(['read', 'write'], ['read']), ['write']);
    assert.deepEqual(missingScopes(['read', 'write'], []), ['read', 'write']);
    assert.deepEqual(missingScopes([], []), []);
  });

  test('scopes are compared exactly (case and prefixes matter)', () => {
    assert.deepEqual(missingScopes(['read'], ['READ', 'read:all', 'reader']), ['read']);
  });
});
