/**
 * Property-based tests (fast-check) of the back-channel logout route's POST bodies: logout_token
 * garbage, JWT-shaped garbage, logout tokens signed by the provider with hostile claims, by
 * another key, unsigned or HMAC-signed; repeated, missing, huge; every content type, method and
 * body length (chunked, cut, 1 GiB declared). Nothing but a valid logout token ends a login,
 * never the victim's (whose sid and sub no token names), a valid one is used once, and every
 * answer is a 4xx or 200.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { CompactSign, generateKeyPair } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/jwt/logout-token.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  checkAnswer,
  chunked,
  fuzzParams,
  fuzzTimeout,
  header,
  hostileString,
  jwtShaped,
  oneIn,
  paramsArb,
  rawRequest,
  refusedByNode,
  renderParams,
  startFuzzApp,
  Tally,
  whoIs,
  type FuzzApp,
  type FuzzUser,
  type Param,
} from './harness.js';

let fx: FuzzApp;
let victim: FuzzUser;
let foreignKey: CryptoKey;
before(async () => {
  fx = await startFuzzApp();
  victim = await fx.login('victim-alice');
  foreignKey = (await generateKeyPair('ES256', { extractable: true })).privateKey;
});
after(() => fx.close());

const now = () => Math.floor(Date.now() / 1000);

/** Claim values: of every JSON type, the edge cases, the victim's sid and sub changed, another user's sid. */
const claimValueArb = fc.oneof(
  fc.constantFrom('$iss', '$client', '$now', '$past', '$future', '$event', '$otherSid', '$victimSidX', '$VICTIMSUB', '$long'),
  fc.constantFrom(null, true, 0, -1, 1.5, '', ' ', [], {}, [null], [CLIENT_ID], { [BACKCHANNEL_LOGOUT_EVENT]: [] }, { [BACKCHANNEL_LOGOUT_EVENT]: null }, { __proto__: null }),
  fc.jsonValue({ maxDepth: 2 }),
  hostileString(24),
);
const CLAIMS = ['iss', 'aud', 'iat', 'exp', 'jti', 'events', 'sid', 'sub', 'nonce', 'nbf', 'azp', '__proto__'];

interface Signed {
  key: 'provider' | 'foreign' | 'none' | 'hmac-secret';
  typ: string | null;
  drop: string[];
  set: Array<[string, unknown]>;
}

const signedArb: fc.Arbitrary<Signed> = fc.record({
  key: fc.constantFrom('provider' as const, 'provider' as const, 'provider' as const, 'foreign' as const, 'none' as const, 'hmac-secret' as const),
  typ: fc.option(fc.constantFrom('logout+jwt', 'JWT', 'application/logout+jwt', 'at+jwt', 'id_token+jwt', '')),
  drop: fc.oneof(fc.constant<string[]>([]), fc.subarray(['iss', 'aud', 'iat', 'jti', 'events', 'sid', 'sub'])),
  set: fc.oneof(fc.constant<Array<[string, unknown]>>([]), fc.array(fc.tuple(fc.constantFrom(...CLAIMS), claimValueArb), { maxLength: 3 })),
});

function claimValue(v: unknown, other: string): unknown {
  switch (v) {
    case '$iss':
      return fx.op.issuer;
    case '$client':
      return CLIENT_ID;
    case '$now':
      return now();
    case '$past':
      return now() - 3600;
    case '$future':
      return now() + 3600;
    case '$event':
      return { [BACKCHANNEL_LOGOUT_EVENT]: {} };
    case '$otherSid':
      return other;
    case '$victimSidX':
      return `${victim.sid}X`;
    case '$VICTIMSUB':
      return victim.sub.toUpperCase();
    case '$long':
      return 'x'.repeat(5000);
    default:
      return v;
  }
}

/** A logout token of the spec: by default a valid one for `otherSid` (never the victim's). */
async function logoutToken(spec: Signed, otherSid: string): Promise<{ token: string; claims: Record<string, unknown> }> {
  const claims: Record<string, unknown> = { iss: fx.op.issuer, aud: CLIENT_ID, iat: now(), jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid: otherSid, sub: 'bc-other' };
  for (const name of spec.drop) delete claims[name];
  for (const [name, value] of spec.set) Object.defineProperty(claims, name, { value: claimValue(value, otherSid), enumerable: true, configurable: true, writable: true });
  const header = { alg: 'RS256', kid: fx.op.keys.current.kid, ...(spec.typ !== null ? { typ: spec.typ } : {}) };
  const payload = new TextEncoder().encode(JSON.stringify(claims));
  if (spec.key === 'none') return { token: `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${Buffer.from(payload).toString('base64url')}.`, claims };
  if (spec.key === 'hmac-secret') return { token: await new CompactSign(payload).setProtectedHeader({ ...header, alg: 'HS256' }).sign(new TextEncoder().encode(CLIENT_SECRET)), claims };
  if (spec.key === 'foreign') return { token: await new CompactSign(payload).setProtectedHeader({ ...header, alg: 'ES256' }).sign(foreignKey), claims };
  return { token: await new CompactSign(payload).setProtectedHeader(header).sign(fx.op.keys.current.privateKey), claims };
}

const CONTENT_TYPES = ['application/x-www-form-urlencoded; charset=UTF-8', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/jwt', 'application/x-www-form-urlencoded\u00e9', ''];

test('back-channel logout: only a valid logout token, once, ends a login, never the victim; every answer is a 4xx or 200', { timeout: fuzzTimeout(100) }, async () => {
  const tally = new Tally('back-channel logout');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        signed: signedArb,
        // Mostly the one logout_token parameter, with hostile ones around it now and then.
        one: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        params: oneIn(3, paramsArb(['logout_token', 'logout_token', 'sid', 'sub', 'token'], fc.oneof(fc.constant('$token'), jwtShaped(), hostileString()), 3)),
        other: fc.boolean(),
        contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/x-www-form-urlencoded') }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.constant(null) }),
        length: fc.constantFrom('auto', 'auto', 'auto', 'auto', 'chunked', 'cut', 'huge'),
        cut: fc.double({ min: 0, max: 1, noNaN: true }),
        method: fc.oneof({ weight: 8, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'HEAD', 'PATCH') }),
        flood: oneIn(15, fc.integer({ min: 60_000, max: 100_000 })),
      }),
      async ({ signed, one, params, other, contentType, length, cut, method, flood }) => {
        const sacrifice = other ? await fx.login('bc-other') : undefined;
        const { token } = await logoutToken(signed, sacrifice?.sid ?? 'sid-of-nobody');
        const all: Param[] = [...(one ? [{ key: 'logout_token', value: '$token', encoding: 'encoded' as const, at: 0, escape: '', times: 1 }] : []), ...(params ?? [])];
        let body = renderParams(all, (v) => v.replaceAll('$token', token), false);
        if (flood !== null) body += `&pad=${'x'.repeat(flood)}`;
        let bytes: Buffer = Buffer.from(body);
        const hdrs: Array<[string, string]> = [];
        if (contentType !== null) hdrs.push(['Content-Type', contentType]);
        let declared: 'auto' | 'none' | number = 'auto';
        if (length === 'cut') bytes = bytes.subarray(0, Math.floor(bytes.length * cut));
        if (length === 'huge') declared = 1 << 30;
        if (length === 'chunked') {
          hdrs.push(['Transfer-Encoding', 'chunked']);
          bytes = chunked(bytes, 1 + (bytes.length % 997));
          declared = 'none';
        }
        const request = { method, target: '/openid/hostile/backchannel-logout', headers: hdrs, body: method === 'HEAD' ? undefined : bytes, contentLength: method === 'HEAD' ? ('none' as const) : declared };
        const res = await rawRequest(fx.port, request);
        tally.add(method, res.status, refusedByNode(res) ? 'node' : (/"error_description":"((?:[^"\\]|\\.)*)"/.exec(res.body)?.[1] ?? '').slice(0, 60));
        checkAnswer(fx, res, { notEchoed: [token] });
        if (!refusedByNode(res)) {
          assert.ok([200, 400, 405, 413, 415].includes(res.status), `${res.status}: ${res.text}`);
          assert.equal(header(res, 'cache-control'), 'no-store');
        }
        if (res.status === 200) {
          assert.equal(signed.key, 'provider', 'a logout token not signed by the provider was accepted');
          const sent = new URLSearchParams(length === 'cut' ? bytes.toString('utf8') : body);
          assert.deepEqual(sent.getAll('logout_token'), [token]);
          const replay = await rawRequest(fx.port, { method: 'POST', target: '/openid/hostile/backchannel-logout', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: `logout_token=${token}` });
          assert.equal(replay.status, 400, 'a logout token is used once');
        }
        if (sacrifice && res.status !== 200) assert.equal(await whoIs(fx, sacrifice.cookieHeader), sacrifice.sub, 'a refused logout token ends nothing');
        assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub, "the victim's login stays");
        await fx.healthy();
      },
    ),
    fuzzParams(100),
  );
  tally.print();
});
