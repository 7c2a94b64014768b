/**
 * Property-based tests (fast-check) of the callback: GET /openid/hostile/auth query strings and
 * POST /openid/formpost/auth bodies (response_mode form_post), built around a real pending login
 * (its state, code and iss) with hostile parameters around, inside and instead of them: repeated,
 * oversized, NUL, broken percent-encoding, unicode, wrong methods, content types and lengths.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import {
  COOKIE,
  checkAnswer,
  chunked,
  fuzzParams,
  fuzzTimeout,
  header,
  hostileString,
  paramsArb,
  providerRedirect,
  rawGet,
  rawRequest,
  refusedByNode,
  renderParams,
  setCookie,
  startFuzzApp,
  whoIs,
  type FuzzApp,
  type FuzzUser,
  type Param,
  type RawResponse,
  Tally,
} from './harness.js';

let fx: FuzzApp;
let victim: FuzzUser;
before(async () => {
  fx = await startFuzzApp();
  victim = await fx.login('victim-alice');
});
after(() => fx.close());

interface Pending {
  cookie: string;
  state: string;
  code: string;
  iss: string;
}

/** A login started at the app and answered by the provider: what the callback would get. */
async function pendingLogin(provider: 'hostile' | 'formpost'): Promise<Pending> {
  fx.op.subject = `fuzz-${provider}`;
  const start = await rawGet(fx.port, `/openid/${provider}/login?returnTo=%2Fdone`);
  assert.equal(start.status, 302, start.text);
  const back = await providerRedirect(header(start, 'location')!);
  return { cookie: setCookie(start, COOKIE)!, state: back.fields.get('state')!, code: back.fields.get('code')!, iss: back.fields.get('iss')! };
}

const KEYS = ['state', 'code', 'iss', 'error', 'error_description', 'session_state', 'id_token', 'access_token', 'token', 'token_type', 'scope', 'expires_in', 'response', 'koa_session_openid_resubmit'];
const PLACEHOLDERS = ['$state', '$code', '$iss', '$stateX', '$codeX', '$STATE', '$state$state', 'access_denied', 'login_required', 'server_error'];
const valueArb = fc.oneof({ weight: 3, arbitrary: hostileString() }, { weight: 2, arbitrary: fc.constantFrom(...PLACEHOLDERS) });

function substitute(p: Pending | undefined): (v: string) => string {
  return (v) =>
    v
      .replaceAll('$stateX', `${p?.state}X`)
      .replaceAll('$codeX', `${p?.code}X`)
      .replaceAll('$STATE', String(p?.state).toUpperCase())
      .replaceAll('$state', String(p?.state))
      .replaceAll('$code', String(p?.code))
      .replaceAll('$iss', String(p?.iss));
}

/** The real state, code and iss, once each, in front of the hostile parameters. */
const REAL: Param[] = ['state', 'code', 'iss'].map((key) => ({ key, value: `$${key}`, encoding: 'encoded', at: 0, escape: '', times: 1 }));

const cookieArb = fc.constantFrom('own', 'own', 'own', 'none', 'victim', 'garbage');

function cookieFor(choice: string, p: Pending | undefined): Array<[string, string]> {
  if (choice === 'own' && p) return [['Cookie', `${COOKIE}=${p.cookie}`]];
  if (choice === 'victim') return [['Cookie', victim.cookieHeader]];
  if (choice === 'garbage') return [['Cookie', `${COOKIE}=d${'x'.repeat(44)}`]];
  return [];
}

/**
 * A login completed (a redirect to its returnTo) only for the session that started it, with its
 * state, code and iss each exactly once and no error; the session then holds that user.
 */
async function checkCompletion(res: RawResponse, sent: string, cookie: string, p: Pending | undefined, provider: 'hostile' | 'formpost'): Promise<void> {
  if (res.status !== 302) return;
  assert.equal(header(res, 'location'), '/done', res.text);
  assert.ok(p, 'a login completed without one started');
  assert.equal(cookie, 'own', 'a login completed in another session than the one that started it');
  const params = new URLSearchParams(sent);
  assert.deepEqual(params.getAll('state'), [p.state]);
  assert.deepEqual(params.getAll('code'), [p.code]);
  assert.deepEqual(params.getAll('iss'), [p.iss]);
  assert.deepEqual(params.getAll('error'), []);
  const session = setCookie(res, COOKIE);
  assert.ok(session, 'a completed login renews the session id');
  assert.equal(await whoIs(fx, `${COOKIE}=${session}`, provider === 'hostile' ? '/me' : '/me/formpost'), `fuzz-${provider}`);
}

test('GET callback: any query is a 4xx or the login it completes, never a 5xx, a leak or a redirect away', { timeout: fuzzTimeout(80) }, async () => {
  const tally = new Tally('GET callback');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        start: fc.boolean(),
        real: fc.boolean(),
        params: paramsArb(KEYS, valueArb, 4),
        cookie: cookieArb,
        method: fc.constantFrom('GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'HEAD'),
      }),
      async ({ start, real, params, cookie, method }) => {
        const p = start ? await pendingLogin('hostile') : undefined;
        const query = renderParams(real ? [...REAL, ...params] : params, substitute(p));
        const res = await rawRequest(fx.port, { method, target: `/openid/hostile/auth${query ? `?${query}` : ''}`, headers: cookieFor(cookie, p) });
        tally.add(res.status, refusedByNode(res) ? 'node' : (/"error":"(\w+)"|<title>([^<]*)/.exec(res.body)?.slice(1).join('') ?? ''));
        checkAnswer(fx, res);
        if (!refusedByNode(res)) assert.ok([302, 400, 404, 405, 414].includes(res.status), `${res.status}: ${res.text}`);
        await checkCompletion(res, query, cookie, p, 'hostile');
        await fx.healthy();
      },
    ),
    fuzzParams(80),
  );
  tally.print();
  assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub, "callbacks in the victim's session left its login");
});

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED', 'application/x-www-form-urlencoded; charset=latin1', 'text/plain', 'application/json',
  'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded\0', '', 'x/\u00e9', 'application/x-www-form-urlencoded, text/plain',
];

test('form_post callback: any body, type or length is a 4xx, the re-post page or the login it completes', { timeout: fuzzTimeout(80) }, async () => {
  const tally = new Tally('form_post callback');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        start: fc.boolean(),
        real: fc.boolean(),
        params: paramsArb(KEYS, valueArb, 4),
        separator: fc.constantFrom('&', '&', '&', ';', '&&', '\n'),
        cookie: cookieArb,
        contentType: fc.oneof(
          { weight: 6, arbitrary: fc.constant('application/x-www-form-urlencoded') },
          { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
          { weight: 1, arbitrary: hostileString(20) },
          { weight: 1, arbitrary: fc.constant(null) },
        ),
        // cut: the body cut short (in an escape, in a UTF-8 sequence), Content-Length its own; none: no body;
        // huge: 1 GiB declared, a little sent; extra: more sent than declared (Node then refuses the rest).
        length: fc.constantFrom('auto', 'auto', 'auto', 'auto', 'auto', 'auto', 'chunked', 'chunked', 'cut', 'cut', 'none', 'huge', 'extra'),
        chunk: fc.integer({ min: 1, max: 4096 }),
        cut: fc.double({ min: 0, max: 1, noNaN: true }),
        site: fc.option(fc.constantFrom('cross-site', 'same-origin', 'none', 'same-site', 'CROSS-SITE')),
        method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'PUT'),
      }),
      async ({ start, real, params, separator, cookie, contentType, length, chunk, cut, site, method }) => {
        const p = start ? await pendingLogin('formpost') : undefined;
        const body = renderParams(real ? [...REAL, ...params] : params, substitute(p), false, separator);
        const hdrs = cookieFor(cookie, p);
        if (contentType !== null) hdrs.push(['Content-Type', contentType]);
        if (site !== null) hdrs.push(['Sec-Fetch-Site', site]);
        let bytes: Buffer = Buffer.from(body);
        let declared: 'auto' | 'none' | number = 'auto';
        if (length === 'none') bytes = Buffer.alloc(0);
        if (length === 'cut') bytes = bytes.subarray(0, Math.floor(bytes.length * cut));
        if (length === 'huge') declared = 1 << 30;
        if (length === 'extra') declared = Math.floor(bytes.length / 2);
        if (length === 'chunked') {
          hdrs.push(['Transfer-Encoding', 'chunked']);
          bytes = chunked(bytes, chunk);
          declared = 'none';
        }
        const res = await rawRequest(fx.port, { method, target: '/openid/formpost/auth', headers: hdrs, body: bytes, contentLength: declared });
        tally.add(res.status, refusedByNode(res) ? `node ${length} ${JSON.stringify(contentType)?.slice(0, 30)}` : (/"error":"(\w+)"|<title>([^<]*)/.exec(res.body)?.slice(1).join('') ?? ''));
        checkAnswer(fx, res);
        if (!refusedByNode(res)) assert.ok([200, 302, 400, 404, 405, 413, 415].includes(res.status), `${res.status}: ${res.text}`);
        // What the app could read: the bytes sent, or the declared part of them.
        const sent = length === 'extra' ? bytes.subarray(0, declared as number).toString('utf8') : length === 'chunked' ? body : bytes.toString('utf8');
        if (res.status === 200) {
          // The re-post page: the same fields, posted back to this route from the app's own origin.
          const form = /<form method="post" action="([^"]*)">/.exec(res.body);
          assert.ok(form, res.body);
          assert.equal(form[1], '/openid/formpost/auth');
          const fields = new URLSearchParams();
          const unescape = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
          for (const [, k, v] of res.body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields.append(unescape(k!), unescape(v!));
          assert.equal(fields.get('koa_session_openid_resubmit'), '1');
          if (cookie === 'own' && p) {
            const again = await rawRequest(fx.port, {
              method: 'POST',
              target: '/openid/formpost/auth',
              headers: [...cookieFor(cookie, p), ['Content-Type', 'application/x-www-form-urlencoded'], ['Sec-Fetch-Site', 'same-origin']],
              body: fields.toString(),
            });
            tally.add('re-posted', again.status);
            checkAnswer(fx, again);
            assert.ok([302, 400].includes(again.status), `${again.status}: ${again.text}`);
            await checkCompletion(again, fields.toString(), cookie, p, 'formpost');
          }
        } else if (res.status === 302) {
          await checkCompletion(res, sent, cookie, p, 'formpost');
        }
        await fx.healthy();
      },
    ),
    fuzzParams(80),
  );
  tally.print();
  assert.equal(await whoIs(fx, victim.cookieHeader), victim.sub);
});
