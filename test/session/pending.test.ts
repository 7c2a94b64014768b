import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTransaction, checkStateSyntax, checkTaken, removeTransaction, settle, type Transaction } from '../../src/session/pending.js';

const TTL = 60_000;
const tx = (provider: string, createdAt = Date.now()): Transaction => ({
  provider, verifier: 'v', nonce: 'n', redirectUri: 'http://app/cb', returnTo: '/', scope: 'openid', createdAt,
});
const state = (i: number) => `state-${String(i).padStart(12, '0')}`;
/** What the callback does: the syntax, the take (once), then provider and age. */
function takeTransaction(session: Record<string, unknown>, s: unknown, provider: string, ttl: number): Transaction {
  checkStateSyntax(s);
  const tx = removeTransaction(session, s);
  if (!tx) throw Object.assign(new Error('unknown'), { code: 'invalid_state' });
  return checkTaken(tx, provider, ttl);
}

test('a transaction is taken once', () => {
  const session: Record<string, unknown> = {};
  addTransaction(session, state(1), tx('a'), TTL, 5);
  assert.equal(takeTransaction(session, state(1), 'a', TTL).provider, 'a');
  assert.throws(() => takeTransaction(session, state(1), 'a', TTL), { code: 'invalid_state' });
  assert.deepEqual(session, {}, 'nothing left behind');
});

test('two pending logins both complete, in any order', () => {
  const session: Record<string, unknown> = {};
  addTransaction(session, state(1), tx('a'), TTL, 5);
  addTransaction(session, state(2), tx('a'), TTL, 5);
  assert.ok(takeTransaction(session, state(2), 'a', TTL));
  assert.ok(takeTransaction(session, state(1), 'a', TTL));
});

test("another provider's state fails and is consumed", () => {
  const session: Record<string, unknown> = {};
  addTransaction(session, state(1), tx('a'), TTL, 5);
  assert.throws(() => takeTransaction(session, state(1), 'b', TTL), { code: 'invalid_state', message: /another provider/ });
  assert.throws(() => takeTransaction(session, state(1), 'a', TTL), { code: 'invalid_state' });
});

test('missing, malformed and expired states fail', () => {
  const session: Record<string, unknown> = {};
  addTransaction(session, state(1), tx('a', Date.now() - TTL - 1), TTL, 5);
  for (const bad of [undefined, null, '', 'short', 'x'.repeat(200), '../../etc', ['a'], '__proto__', 'constructor-aaaaaaaaaa']) {
    assert.throws(() => takeTransaction(session, bad, 'a', TTL), { code: 'invalid_state' }, String(bad));
  }
  assert.throws(() => takeTransaction(session, state(1), 'a', TTL), { code: 'invalid_state', message: /too long/ });
});

test('the number pending per provider is capped, oldest dropped', () => {
  const session: Record<string, unknown> = {};
  for (let i = 0; i < 8; i++) addTransaction(session, state(i), tx('a', Date.now() - 1000 + i), TTL, 3);
  addTransaction(session, state(100), tx('b'), TTL, 3);
  const pending = session['openid:pending'] as Record<string, Transaction>;
  assert.deepEqual(Object.keys(pending).sort(), [state(5), state(6), state(7), state(100)].sort());
});

test('settling a login: the others become superseded, expired records go, at most 20 stay', () => {
  const now = Date.now();
  const settled = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`old${i}`, { provider: 'a', returnTo: '/', outcome: 'completed' as const, at: now - 1000 + i }]));
  settled.expired = { provider: 'a', returnTo: '/', outcome: 'completed', at: now - TTL - 1 };
  const result = settle({ mine: tx('a'), other: tx('b') }, settled, 'mine', tx('a'), TTL);
  assert.equal(Object.keys(result.settled).length, 20);
  assert.equal(result.settled.mine?.outcome, 'completed');
  assert.equal(result.settled.other?.outcome, 'superseded');
  assert.ok(result.dropped.includes('expired') && result.dropped.includes('old0'));
  assert.ok(!result.dropped.includes('old24'));
});
