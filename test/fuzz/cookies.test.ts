/**
 * Property-based tests (fast-check) of the Cookie header. The session cookie is
 * `<flag a|d><22-char tag><22-char secret>`, unsigned (src/session/session-id.ts, README "The
 * cookie"): a tampered, truncated, extended, re-flagged, half-swapped, percent-encoded or forged
 * one (another session's tag or secret, a fresh secret: the unsigned cookie's "re-signed with
 * another key"), a foreign one (koa-session, express, JWT), a duplicated name, several Cookie
 * lines, or a huge header is an anonymous request: a guarded JSON route answers 401
 * login_required, never a 5xx, never someone's login or data; and the two logged-in users keep
 * their sessions whatever the others send.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import {
  COOKIE,
  checkAnswer,
  fuzzParams,
  fuzzTimeout,
  header,
  hostileString,
  noteOf,
  oneIn,
  rawRequest,
  refusedByNode,
  setCookie,
  startFuzzApp,
  Tally,
  whoIs,
  type FuzzApp,
  type FuzzUser,
  type RawResponse,
} from './harness.js';

let fx: FuzzApp;
let alice: FuzzUser;
let bob: FuzzUser;
before(async () => {
  fx = await startFuzzApp();
  alice = await fx.login('alice', { note: `note-of-alice-${randomBytes(6).toString('hex')}` });
  bob = await fx.login('bob', { note: `note-of-bob-${randomBytes(6).toString('hex')}` });
  assert.match(alice.cookie, /^d[\w-]{44}$/);
});
after(() => fx.close());

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

type Mutation =
  | { kind: 'flip'; at: number; char: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'append' | 'prepend'; text: string }
  | { kind: 'flag'; to: string }
  | { kind: 'swap-halves' | 'tag-of-other' | 'secret-of-other' | 'fresh-secret' | 'fresh-tag' | 'case' | 'std-base64' | 'percent' | 'double' };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), char: fc.oneof(fc.constantFrom(...B64URL), fc.constantFrom('+', '/', '=', '.', '\0', '%', 'é', '"', ',', '\\')) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }),
  fc.record({ kind: fc.constantFrom('append' as const, 'prepend' as const), text: fc.oneof(fc.constantFrom('=', '==', 'A', '\0', '.sig', '%00', '"', 'x'.repeat(300)), hostileString(8)) }),
  fc.record({ kind: fc.constant('flag' as const), to: fc.constantFrom('a', 'd', 'A', 'D', 'x', '', 'ad', '0') }),
  fc.record({ kind: fc.constantFrom('swap-halves' as const, 'tag-of-other' as const, 'secret-of-other' as const, 'fresh-secret' as const, 'fresh-tag' as const, 'case' as const, 'std-base64' as const, 'percent' as const, 'double' as const) }),
);

const random22 = () => randomBytes(16).toString('base64url');

/** `value` (a cookie of `self`) changed by `m`; `other` is the other user's cookie. */
function mutate(value: string, m: Mutation, other: string): string {
  const flag = value.slice(0, 1);
  const tag = value.slice(1, 23);
  const secret = value.slice(23);
  switch (m.kind) {
    case 'flip': {
      const i = Math.floor(m.at * value.length);
      return value.slice(0, i) + m.char + value.slice(i + 1);
    }
    case 'truncate':
      return value.slice(0, Math.floor(m.at * value.length));
    case 'append':
      return value + m.text;
    case 'prepend':
      return m.text + value;
    case 'flag':
      return m.to + value.slice(1);
    case 'swap-halves':
      return flag + secret + tag;
    case 'tag-of-other':
      return flag + other.slice(1, 23) + secret;
    case 'secret-of-other':
      return flag + tag + other.slice(23);
    case 'fresh-secret':
      return flag + tag + random22();
    case 'fresh-tag':
      return flag + random22() + secret;
    case 'case': {
      const i = value.search(/[a-z]/i);
      if (i === -1) return `${value}x`;
      const c = value[i]!;
      return value.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + value.slice(i + 1);
    }
    case 'std-base64':
      return /[-_]/.test(value) ? value.replace(/-/g, '+').replace(/_/g, '/') : `${value.slice(0, -1)}+`;
    case 'percent':
      return [...value].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    case 'double':
      return value + value;
  }
}

/** What a cookie parser makes of a value: up to the first `;`, without surrounding white space (RFC 6265 §5.2). */
const effective = (value: string) => value.split(';')[0]!.trim();

/**
 * The user whose session a cookie value names: its tag and secret. The flag (`a`/`d`: "holds app
 * data") is no credential: whoever has the tag and secret may send either (then the data is
 * loaded, or not, on the flag's word).
 */
function holder(value: string): FuzzUser | undefined {
  const v = effective(value);
  return /^[ad][A-Za-z0-9_-]{44}$/.test(v) ? [alice, bob].find((u) => u.cookie.slice(1) === v.slice(1)) : undefined;
}

/** Cookies of other apps and frameworks, and this session's values under other names. */
const foreignArb = fc.oneof(
  fc.constantFrom(
    `koa.sess=${Buffer.from('{"user":"alice","_expire":9999999999999}').toString('base64')}`,
    `koa.sess.sig=${createHmac('sha1', 'another-key').update('koa.sess=x').digest('base64url')}`,
    'connect.sid=s%3AabcDEF.signature',
    `session=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.`,
    `${COOKIE}.sig=${createHmac('sha256', 'another-key').update('x').digest('base64url')}`,
    '$Version=1',
    '=novalue',
    'noequals',
    ';;;',
  ),
  fc.constantFrom(`__Host-${COOKIE}`, `x${COOKIE}`, `${COOKIE}2`, COOKIE.toUpperCase(), `${COOKIE}.sig`, `-${COOKIE}`).chain((name) =>
    fc.constantFrom('$alice', '$bob').map((v) => `${name}=${v}`),
  ),
  fc.tuple(hostileString(12), hostileString(20)).map(([k, v]) => `${k}=${v}`),
);

const nameArb = fc.constantFrom(COOKIE, COOKIE, COOKIE, COOKIE, COOKIE, ` ${COOKIE}`, `${COOKIE} `, COOKIE.toUpperCase(), `__Host-${COOKIE}`);

interface Pair {
  name: string;
  /** A symbolic value: `$alice`/`$bob` (the valid cookies), or a tampered one. */
  base: 'alice' | 'bob';
  mutations: Mutation[];
}

const tamperedArb: fc.Arbitrary<Pair> = fc.record({ name: nameArb, base: fc.constantFrom('alice' as const, 'bob' as const), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) });

function render(pair: Pair): string {
  const [self, other] = pair.base === 'alice' ? [alice.cookie, bob.cookie] : [bob.cookie, alice.cookie];
  return `${pair.name}=${pair.mutations.reduce((v, m) => mutate(v, m, other), self)}`;
}

const fill = (s: string) => s.replaceAll('$alice', alice.cookie).replaceAll('$bob', bob.cookie);

/** The Cookie header lines: pairs joined by `; ` (or other separators), on one line or several. */
function cookieLines(pairs: string[], separator: string, split: boolean): Array<[string, string]> {
  return split ? pairs.map((p): [string, string] => ['Cookie', p]) : [['Cookie', pairs.join(separator)]];
}

const ROUTES = ['/me', '/me html', '/me/formpost', '/api/both', '/data', '/openid/hostile/logout', '/openid/hostile/login', '/openid/formpost/login'] as const;
type Route = (typeof ROUTES)[number];

async function request(route: Route, cookies: Array<[string, string]>): Promise<RawResponse> {
  const path = route.split(' ')[0]!;
  const hdrs: Array<[string, string]> = [...cookies, ['Accept', route.endsWith('html') ? 'text/html' : 'application/json']];
  if (route === '/openid/hostile/logout') hdrs.push(['Sec-Fetch-Site', 'same-origin']);
  return rawRequest(fx.port, { target: path, headers: hdrs });
}

/** What `route` answers to a request with no valid session. */
function assertAnonymous(route: Route, res: RawResponse): void {
  if (refusedByNode(res)) return;
  switch (route) {
    case '/me':
    case '/me/formpost':
    case '/api/both':
      assert.equal(res.status, 401, res.text);
      assert.equal(JSON.parse(res.body).error, 'login_required');
      break;
    case '/me html':
      assert.equal(res.status, 302, res.text);
      assert.equal(header(res, 'location'), '/openid/hostile/login?returnTo=%2Fme');
      break;
    case '/data':
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.body), { note: null });
      break;
    case '/openid/hostile/logout':
      // No login: straight to the provider, with no id_token_hint (checkAnswer refuses any).
      assert.equal(res.status, 302, res.text);
      break;
    case '/openid/hostile/login':
    case '/openid/formpost/login':
      assert.equal(res.status, 302, res.text);
      assert.ok(header(res, 'location')!.startsWith(fx.providerEndpoints[0]!));
      break;
  }
}

/** No answer hands out a logged-in user's session id or data. */
function assertNoSessionOfUsers(res: RawResponse): void {
  const issued = setCookie(res, COOKIE);
  for (const user of [alice, bob]) {
    if (issued) assert.notEqual(issued.slice(1, 23), user.cookie.slice(1, 23), `a cookie of ${user.sub}'s session was issued`);
    assert.ok(!res.text.includes(user.note!), `${user.sub}'s session data in the answer`);
  }
}

async function assertUsersKeepTheirSessions(): Promise<void> {
  for (const user of [alice, bob]) {
    assert.equal(await whoIs(fx, user.cookieHeader), user.sub, `${user.sub} is still logged in`);
    assert.equal(await noteOf(fx, user.cookieHeader), user.note, `${user.sub}'s data is unchanged`);
  }
}

test('a tampered, truncated, forged or foreign session cookie is an anonymous request', { timeout: fuzzTimeout(120) }, async () => {
  const tally = new Tally('tampered cookies');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        tampered: fc.array(tamperedArb, { minLength: 1, maxLength: 3 }),
        foreign: fc.array(foreignArb, { maxLength: 4 }),
        order: fc.array(fc.nat(), { maxLength: 8 }),
        separator: fc.constantFrom('; ', '; ', '; ', ';', ' ; ', ', ', ';;'),
        split: fc.boolean(),
        padding: oneIn(10, fc.integer({ min: 1000, max: 20_000 })),
        route: fc.constantFrom(...ROUTES),
      }),
      async ({ tampered, foreign, order, separator, split, padding, route }) => {
        const values = tampered.map(render);
        // Only requests carrying no valid session id under the session's name count here (see the next test).
        fc.pre(values.every((v) => holder(v.slice(v.indexOf('=') + 1)) === undefined));
        const pairs = [...values, ...foreign.map(fill)];
        for (let i = 0; i < order.length && pairs.length > 1; i++) {
          const j = order[i]! % pairs.length;
          [pairs[0], pairs[j]] = [pairs[j]!, pairs[0]!];
        }
        if (padding !== null) pairs.push(`pad=${'p'.repeat(padding)}`);
        const res = await request(route, cookieLines(pairs, separator, split));
        tally.add(route, res.status);
        checkAnswer(fx, res);
        assertNoSessionOfUsers(res);
        assertAnonymous(route, res);
        await assertUsersKeepTheirSessions();
        await fx.healthy();
      },
    ),
    fuzzParams(120),
  );
  tally.print();
});

test("with valid cookies among tampered ones, a request is anonymous or one of the users it carries, never another's", { timeout: fuzzTimeout(100) }, async () => {
  const tally = new Tally('mixed cookies');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        valid: fc.subarray(['alice', 'bob'] as const),
        tampered: fc.array(tamperedArb, { maxLength: 3 }),
        foreign: fc.array(foreignArb, { maxLength: 3 }),
        order: fc.array(fc.nat(), { maxLength: 8 }),
        split: fc.boolean(),
        route: fc.constantFrom('/me', '/data', '/api/both', '/me/formpost'),
      }),
      async ({ valid, tampered, foreign, order, split, route }) => {
        const pairs = [...valid.map((u) => `${COOKIE}=$${u}`).map(fill), ...tampered.map(render), ...foreign.map(fill)];
        for (let i = 0; i < order.length && pairs.length > 1; i++) {
          const j = order[i]! % pairs.length;
          [pairs[0], pairs[j]] = [pairs[j]!, pairs[0]!];
        }
        // The users whose valid cookie the request carries under the session's name.
        // (Generous: a name with white space around counts, which a strict parser would not take.)
        const carried = [alice, bob].filter((u) =>
          pairs.some((p) => p.includes('=') && p.slice(0, p.indexOf('=')).trim() === COOKIE && holder(p.slice(p.indexOf('=') + 1)) === u),
        );
        const res = await request(route, cookieLines(pairs, '; ', split));
        checkAnswer(fx, res);
        const body = refusedByNode(res) ? undefined : (JSON.parse(res.body) as { sub?: string; note?: string | null });
        tally.add(route, res.status, carried.length);
        if (body?.sub !== undefined) assert.ok(carried.some((u) => u.sub === body.sub), `${body.sub}'s login for a request that does not carry its cookie`);
        if (body?.note) assert.ok(carried.some((u) => u.note === body.note), `${body.note} for a request that does not carry its cookie`);
        if (carried.length === 0) assertAnonymous(route, res);
        await assertUsersKeepTheirSessions();
        await fx.healthy();
      },
    ),
    fuzzParams(100),
  );
  tally.print();
});
