/**
 * `TokenCache`: verified tokens keyed by the SHA-256 of the whole token, each entry expiring at the
 * time it was stored with, bounded in size (the oldest entry goes first).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';

import { TokenCache } from '../../src/jwt/token-cache.js';

const later = (ms = 60_000) => Date.now() + ms;

describe('TokenCache', () => {
  test('the key is the base64url SHA-256 of the whole token, never the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const key = TokenCache.key(token);
    assert.equal(key, createHash('sha256').update(token).digest('base64url'));
    assert.ok(!key.includes(token) && !token.includes(key));
    for (const part of token.split('.')) assert.ok(!key.includes(part));
  });

  test('tokens that differ anywhere (even only in the signature) have different keys', () => {
    const a = 'header.payload.signatureA';
    assert.equal(TokenCache.key(a), TokenCache.key(`${a}`));
    assert.notEqual(TokenCache.key(a), TokenCache.key('header.payload.signatureB'));
    assert.notEqual(TokenCache.key(a), TokenCache.key('header.payload.signatureA='));
    assert.notEqual(TokenCache.key(a), TokenCache.key('Header.payload.signatureA'));
  });

  test('an entry is served until its expiry, then dropped', () => {
    const cache = new TokenCache<string>(10);
    const expiresAt = later(1000);
    cache.set('k', 'v', expiresAt);
    assert.equal(cache.get('k'), 'v');
    assert.equal(cache.get('k', expiresAt - 1), 'v');
    assert.equal(cache.get('k', expiresAt), undefined, 'expired at exactly its expiry');
    assert.equal(cache.size, 0, 'the expired entry is removed');
    assert.equal(cache.get('k'), undefined, 'and stays gone');
  });

  test('an entry that is already expired is not stored', () => {
    const cache = new TokenCache<string>(10);
    cache.set('past', 'v', Date.now() - 1);
    cache.set('now', 'v', Date.now());
    assert.equal(cache.size, 0);
    assert.equal(cache.get('past'), undefined);
  });

  test('an unknown key gives undefined', () => {
    assert.equal(new TokenCache<string>(10).get('nope'), undefined);
  });

  test('bounded: past maxEntries the oldest entry is dropped', () => {
    const cache = new TokenCache<number>(3);
    for (let i = 1; i <= 5; i++) cache.set(`k${i}`, i, later());
    assert.equal(cache.size, 3);
    assert.equal(cache.get('k1'), undefined);
    assert.equal(cache.get('k2'), undefined);
    assert.deepEqual(['k3', 'k4', 'k5'].map((k) => cache.get(k)), [3, 4, 5]);
  });

  test('storing a key again when full replaces it and evicts nothing', () => {
    const cache = new TokenCache<number>(2);
    cache.set('a', 1, later());
    cache.set('b', 2, later());
    cache.set('a', 10, later());
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a'), 10);
    assert.equal(cache.get('b'), 2);
  });

  test('a new expiry replaces the old one', () => {
    const cache = new TokenCache<number>(2);
    const soon = later(1000);
    cache.set('a', 1, later());
    cache.set('a', 1, soon);
    assert.equal(cache.get('a', soon), undefined);
  });

  test('maxEntries 0 (or less) turns the cache off', () => {
    for (const max of [0, -1]) {
      const cache = new TokenCache<number>(max);
      cache.set('a', 1, later());
      assert.equal(cache.size, 0);
      assert.equal(cache.get('a'), undefined);
    }
  });

  test('a thousand entries in a cache of 100 stay at 100', () => {
    const cache = new TokenCache<number>(100);
    for (let i = 0; i < 1000; i++) cache.set(TokenCache.key(`token-${i}`), i, later());
    assert.equal(cache.size, 100);
    assert.equal(cache.get(TokenCache.key('token-999')), 999);
    assert.equal(cache.get(TokenCache.key('token-899')), undefined);
  });
});
