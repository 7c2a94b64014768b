/**
 * Property-based tests (fast-check) of the Authorization header on bearer routes (`bearer()`,
 * `bearer({ scopes })`, `required({ bearer: true })`): garbage, every scheme spelling, JWT-shaped
 * garbage, JWTs signed by the provider with hostile claims (wrong types, nesting, huge values),
 * by another key, unsigned or HMAC-signed with the client secret, the login's real tokens and
 * their mutations, repeated headers, tokens in the query, huge headers. Only the real access token
 * and provider-signed JWTs can pass; every other answer is a 4xx that names no token.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { CompactSign, generateKeyPair } from 'jose';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  checkAnswer,
  fuzzParams,
  fuzzTimeout,
  header,
  hostileString,
  jwtShaped,
  oneIn,
  percentEncode,
  rawRequest,
  refusedByNode,
  startFuzzApp,
  Tally,
  type FuzzApp,
  type FuzzUser,
} from './harness.js';

let fx: FuzzApp;
let user: FuzzUser;
let foreignKey: CryptoKey;
before(async () => {
  fx = await startFuzzApp();
  user = await fx.login('api-user');
  foreignKey = (await generateKeyPair('RS256', { extractable: true })).privateKey;
});
after(() => fx.close());

const now = () => Math.floor(Date.now() / 1000);

/** Claim values of every JSON type and the edge cases of each claim. */
const claimValueArb = fc.oneof(
  fc.constantFrom('$iss', '$client', '$now', '$past', '$future', '$deep', '$wide', '$long', '$proto'),
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), '', ' ', 'api:read', 'openid api:read', [], {}, ['api:read'], [null], [CLIENT_ID, 'other'], { [CLIENT_ID]: true }),
  fc.jsonValue({ maxDepth: 2 }),
  hostileString(24),
);

const CLAIMS = ['iss', 'aud', 'sub', 'exp', 'nbf', 'iat', 'scope', 'scp', 'client_id', 'azp', 'nonce', 'at_hash', 'c_hash', 'typ', 'auth_time', 'jti', 'tid', 'roles', 'cnf', '__proto__', 'constructor'];

function claimValue(v: unknown): unknown {
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
    case '$deep': {
      let deep: unknown = 'x';
      for (let i = 0; i < 3000; i++) deep = [deep];
      return deep;
    }
    case '$wide':
      return Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    case '$long':
      return 'x'.repeat(9000);
    case '$proto':
      return JSON.parse('{"__proto__":{"admin":true}}');
    default:
      return v;
  }
}

type Token =
  | { kind: 'garbage'; value: string }
  | { kind: 'b64token'; value: string }
  | { kind: 'jwt-shaped'; value: string }
  | { kind: 'real'; which: 'access' | 'id' | 'refresh'; flip: number | null }
  | { kind: 'signed'; key: 'provider' | 'foreign' | 'none' | 'hmac-secret'; typ: string | null; kid: 'own' | 'none' | 'other'; drop: string[]; set: Array<[string, unknown]> };

const tokenArb: fc.Arbitrary<Token> = fc.oneof(
  fc.record({ kind: fc.constant('garbage' as const), value: hostileString() }),
  fc.record({ kind: fc.constant('b64token' as const), value: fc.string({ unit: fc.constantFrom(...'ABCxyz019-._~+/'), minLength: 1, maxLength: 120 }).map((s) => s + '='.repeat(s.length % 3)) }),
  fc.record({ kind: fc.constant('jwt-shaped' as const), value: jwtShaped() }),
  fc.record({ kind: fc.constant('real' as const), which: fc.constantFrom('access' as const, 'access' as const, 'id' as const, 'refresh' as const), flip: oneIn(3, fc.nat()) }),
  fc.record({
    kind: fc.constant('signed' as const),
    key: fc.constantFrom('provider' as const, 'provider' as const, 'provider' as const, 'foreign' as const, 'none' as const, 'hmac-secret' as const),
    typ: fc.option(fc.constantFrom('at+jwt', 'JWT', 'jwt', 'application/at+jwt', 'logout+jwt', 'id_token', '')),
    kid: fc.constantFrom('own' as const, 'own' as const, 'none' as const, 'other' as const),
    drop: fc.oneof(fc.constant<string[]>([]), fc.subarray(['iss', 'aud', 'sub', 'exp', 'scope'])),
    set: fc.oneof(fc.constant<Array<[string, unknown]>>([]), fc.array(fc.tuple(fc.constantFrom(...CLAIMS), claimValueArb), { maxLength: 3 })),
  }),
);

/** The token's text, and whether it may be accepted at all (the real access token, or one the provider signed). */
async function materialize(t: Token): Promise<{ token: string; mayPass: boolean; sub?: unknown }> {
  switch (t.kind) {
    case 'garbage':
    case 'b64token':
    case 'jwt-shaped':
      return { token: t.value, mayPass: false };
    case 'real': {
      const token = t.which === 'access' ? user.accessToken : t.which === 'id' ? user.idToken : user.refreshToken;
      if (t.flip === null) return { token, mayPass: t.which === 'access', sub: user.sub };
      const i = t.flip % token.length;
      const c = token[i] === 'A' ? 'B' : 'A';
      return { token: token.slice(0, i) + c + token.slice(i + 1), mayPass: false };
    }
    case 'signed': {
      const claims: Record<string, unknown> = { iss: fx.op.issuer, aud: CLIENT_ID, sub: 'jwt-user', iat: now(), exp: now() + 300, scope: 'openid api:read', client_id: CLIENT_ID };
      for (const name of t.drop) delete claims[name];
      for (const [name, value] of t.set) Object.defineProperty(claims, name, { value: claimValue(value), enumerable: true, configurable: true, writable: true });
      const kid = t.kid === 'own' ? fx.op.keys.current.kid : t.kid === 'other' ? 'another-kid' : undefined;
      const header: Record<string, unknown> = { alg: 'RS256', ...(kid ? { kid } : {}), ...(t.typ !== null ? { typ: t.typ } : {}) };
      const payload = new TextEncoder().encode(JSON.stringify(claims));
      let token: string;
      if (t.key === 'none') token = `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${Buffer.from(payload).toString('base64url')}.`;
      else if (t.key === 'hmac-secret') token = await new CompactSign(payload).setProtectedHeader({ ...header, alg: 'HS256' } as { alg: string }).sign(new TextEncoder().encode(CLIENT_SECRET));
      else token = await new CompactSign(payload).setProtectedHeader(header as { alg: string }).sign(t.key === 'provider' ? fx.op.keys.current.privateKey : foreignKey);
      return { token, mayPass: t.key === 'provider', sub: claims.sub };
    }
  }
}

const SCHEMES = ['Bearer ', 'Bearer ', 'Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Bearer', 'Basic ', 'Token ', 'Bearer: ', ' Bearer ', 'Bearer %20', 'DPoP '];

test('Authorization header: garbage and forgeries are a 401/403 that names no token; only real tokens pass', { timeout: fuzzTimeout(150) }, async () => {
  const tally = new Tally('bearer');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        route: fc.constantFrom('/api/bearer', '/api/bearer', '/api/scoped', '/api/both'),
        scheme: fc.oneof({ weight: 2, arbitrary: fc.constant('Bearer ') }, { weight: 1, arbitrary: fc.constantFrom(...SCHEMES) }),
        token: tokenArb,
        suffix: oneIn(4, fc.constantFrom(' ', '  ', ', Bearer x', ' x', '\t', '=', ',')),
        where: fc.constantFrom('header', 'header', 'header', 'header', 'twice', 'query', 'both', 'none', 'raw'),
        padding: oneIn(12, fc.integer({ min: 1000, max: 20_000 })),
      }),
      async ({ route, scheme, token: t, suffix, where, padding }) => {
        const { token, mayPass, sub } = await materialize(t);
        const value = `${scheme}${padding === null ? token : token + 'A'.repeat(padding)}${suffix ?? ''}`;
        const hdrs: Array<[string, string | Buffer]> = [['Accept', 'application/json']];
        let target = route;
        // fetch would refuse most of these: the header goes out as raw bytes (UTF-8, NUL and all).
        if (where === 'header' || where === 'both' || where === 'raw') hdrs.push(['Authorization', where === 'raw' ? Buffer.from(value, 'latin1') : value]);
        if (where === 'twice') hdrs.push(['Authorization', value], ['authorization', `Bearer ${user.accessToken}`]);
        if (where === 'query' || where === 'both') target += `?access_token=${percentEncode(token)}`;
        const res = await rawRequest(fx.port, { target, headers: hdrs });
        tally.add(route, t.kind, res.status);
        checkAnswer(fx, res, { notEchoed: token.length >= 24 && /[.\-_]/.test(token) ? [token] : [] });
        if (refusedByNode(res)) return await fx.healthy();
        assert.ok([200, 401, 403].includes(res.status), `${res.status}: ${res.text}`);
        if (res.status === 200) {
          // Node takes the white space around a header value off (RFC 9110 §5.5): what is left must be `Bearer <token>`.
          const clean = (where === 'header' || where === 'raw') && padding === null && /^bearer +(\S+) *$/i.exec(value.trim())?.[1] === token;
          assert.ok(mayPass && clean, `accepted: ${value.slice(0, 200)}`);
          assert.deepEqual((JSON.parse(res.body) as { sub: unknown }).sub, sub, 'the sub of the token that was sent');
        } else {
          assert.ok(header(res, 'www-authenticate')?.startsWith('Bearer realm="hostile"'), `a ${res.status} without a Bearer challenge`);
          assert.ok(['invalid_token', 'invalid_request', 'insufficient_scope', 'login_required'].includes(JSON.parse(res.body).error), res.body);
          if (res.status === 403) assert.equal(JSON.parse(res.body).error, 'insufficient_scope');
        }
        await fx.healthy();
      },
    ),
    fuzzParams(150),
  );
  tally.print();
  // The real token still works: no refusal was remembered for it.
  const res = await rawRequest(fx.port, { target: '/api/bearer', headers: [['Authorization', `Bearer ${user.accessToken}`]] });
  assert.equal(res.status, 200, res.text);
});
