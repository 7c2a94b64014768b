import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeReturnTo } from '../../src/login/return-to.js';

test('same-origin paths are kept, with query and fragment', () => {
  for (const path of ['/', '/x', '/a/b?c=d&e=%2F#frag', '/caf%C3%A9']) {
    assert.equal(safeReturnTo(path, '/fallback'), path);
  }
});

test('open redirects fall back', () => {
  const hostile = [
    '//evil.example', '/\\evil.example', '\\\\evil.example', 'https://evil.example/', 'http:/evil', 'javascript:alert(1)',
    '/\t/evil.example', '/\n/evil.example', ' /x', '/x\u0000', 'evil', '', '/%09/evil', '/' + 'a'.repeat(3000),
    '/\\/evil', '/.//evil',
  ];
  for (const value of hostile) {
    const out = safeReturnTo(value, '/fallback');
    assert.ok(out === '/fallback' || (out.startsWith('/') && !out.startsWith('//') && !out.includes('\\')), `${JSON.stringify(value)} -> ${out}`);
    if (!value.startsWith('/.//') && !value.startsWith('/%09')) assert.equal(out, '/fallback', JSON.stringify(value));
  }
});

test('non-strings fall back', () => {
  for (const value of [undefined, null, 42, ['/x'], { toString: () => '/x' }]) {
    assert.equal(safeReturnTo(value, '/home'), '/home');
  }
});
