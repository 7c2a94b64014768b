/**
 * Property-based tests (fast-check) of Host and X-Forwarded-* oddities, on four apps sharing one
 * provider: with and without `app.proxy`, with and without `baseUrl`. Missing, duplicated, empty,
 * unicode, NUL, userinfo, ports out of range, comma lists, `Forwarded`; sent as raw bytes (fetch
 * refuses most of them). Whatever they say: never a 5xx; a Location stays on the app or goes to
 * the provider; with `baseUrl` the redirect_uri and post_logout_redirect_uri are the configured
 * ones, no response names the Host or X-Forwarded-Host the request made up, and a cross-site
 * Origin never logs out; without `app.proxy` nothing follows X-Forwarded-* (no Secure or __Host-
 * cookie on plain http, no forwarded host in any answer).
 *
 * Seeded and reproducible: FUZZ_SEED=<n> (default 11) changes the seed, FUZZ_RUNS=<n> the runs of
 * every property (default: a bounded count per property, the whole test/fuzz folder under 30 s),
 * e.g. `FUZZ_RUNS=2000 npm test -- test/fuzz`. A failure prints the seed and the counterexample.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import {
  checkAnswer,
  fuzzParams,
  fuzzTimeout,
  header,
  headers,
  hostileString,
  oneIn,
  rawRequest,
  refusedByNode,
  startFuzzApp,
  Tally,
  type FuzzApp,
} from './harness.js';

/** Markers: a response that names one shows the app built a URL from that header. */
const HOST_MARKER = 'host-marker.example';
const XFH_MARKER = 'xfh-marker.example';

interface Variant {
  proxy: boolean;
  baseUrl: boolean;
  fx: FuzzApp;
}
const apps: Variant[] = [];
before(async () => {
  const first = await startFuzzApp({ proxy: false, baseUrl: true });
  apps.push({ proxy: false, baseUrl: true, fx: first });
  for (const [proxy, baseUrl] of [[true, true], [false, false], [true, false]] as const) {
    apps.push({ proxy, baseUrl, fx: await startFuzzApp({ proxy, baseUrl, op: first.op }) });
  }
});
after(async () => {
  for (const { fx } of apps.reverse()) await fx.close();
});

const hostArb = fc.oneof(
  fc.constantFrom(
    HOST_MARKER, `${HOST_MARKER}:443`, `${HOST_MARKER}:99999`, `user@${HOST_MARKER}`, `${HOST_MARKER}/path`, `${HOST_MARKER}?q`, `${HOST_MARKER}#f`,
    `${HOST_MARKER}.`, HOST_MARKER.toUpperCase(), `${HOST_MARKER}, evil.example`, `[::1]:80`, '[::1', ':80', '.', '', ' ', 'a b', 'localhost',
    'ex\u00e4mple.com', '%65vil.example', 'evil.example\0', '\u0130.example', '127.0.0.1:0', '0x7f.1', '$real',
  ),
  hostileString(20),
);
const xfhArb = fc.oneof(
  fc.constantFrom(XFH_MARKER, `${XFH_MARKER}:8443`, `${XFH_MARKER}, $real`, `$real, ${XFH_MARKER}`, ` ${XFH_MARKER}`, `user@${XFH_MARKER}`, `${XFH_MARKER}/x`, '', ',', '$real'),
  hostileString(20),
);
const protoArb = fc.oneof(fc.constantFrom('https', 'https', 'http', 'HTTPS', 'https, http', 'http, https', ' https', 'javascript', 'ftp', '', 'https\0', 'wss'), hostileString(10));
const junkArb = fc.oneof(fc.constantFrom('1.2.3.4', 'unknown', '::1, 10.0.0.1', '', '99999', 'for=1.2.3.4;proto=https;host=' + XFH_MARKER), hostileString(20));
const originArb = fc.constantFrom('$base', '$base', 'http://evil.example', `http://${HOST_MARKER}`, `http://${XFH_MARKER}`, `https://${XFH_MARKER}`, 'https://127.0.0.1', 'null', '');

const ROUTES = [
  '/openid/hostile/login?returnTo=%2Fx',
  '/openid/formpost/login',
  '/me html',
  '/openid/hostile/logout',
  '/openid/hostile/logged-out?state=aaaaaaaaaaaaaaaaaaaa',
  '/openid/hostile/auth?state=aaaaaaaaaaaaaaaaaaaa&code=x',
  '/openid/hostile/frontchannel-logout?sid=x',
  '/data',
  '/health',
] as const;

test('Host and X-Forwarded-*: no 5xx, no redirect away, and with baseUrl (or without app.proxy) the request cannot steer URLs', { timeout: fuzzTimeout(150) }, async () => {
  const tally = new Tally('host headers');
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        app: fc.nat({ max: 3 }),
        route: fc.constantFrom(...ROUTES),
        host: fc.oneof({ weight: 6, arbitrary: hostArb }, { weight: 1, arbitrary: fc.constantFrom('absent', 'twice') }),
        xfh: oneIn(2, xfhArb),
        xfp: oneIn(2, protoArb),
        xff: oneIn(4, junkArb),
        forwarded: oneIn(5, junkArb),
        xfport: oneIn(6, fc.constantFrom('443', '0', '99999', 'x', '')),
        origin: oneIn(2, originArb),
        site: oneIn(4, fc.constantFrom('same-origin', 'cross-site', 'none')),
      }),
      async ({ app, route, host, xfh, xfp, xff, forwarded, xfport, origin, site }) => {
        const { fx, proxy, baseUrl } = apps[app]!;
        const real = fx.base.slice('http://'.length);
        const fill = (s: string) => s.replaceAll('$real', real).replaceAll('$base', fx.base);
        const hdrs: Array<[string, string]> = [];
        let hostHeader: string | null | undefined;
        if (host === 'absent') hostHeader = null;
        else if (host === 'twice') hdrs.push(['Host', real], ['Host', HOST_MARKER]);
        else hdrs.push(['Host', fill(host)]);
        if (xfh !== null) hdrs.push(['X-Forwarded-Host', fill(xfh)]);
        if (xfp !== null) hdrs.push(['X-Forwarded-Proto', xfp]);
        if (xff !== null) hdrs.push(['X-Forwarded-For', xff]);
        if (forwarded !== null) hdrs.push(['Forwarded', forwarded]);
        if (xfport !== null) hdrs.push(['X-Forwarded-Port', xfport]);
        if (origin !== null) hdrs.push(['Origin', fill(origin)]);
        if (site !== null) hdrs.push(['Sec-Fetch-Site', site]);
        hdrs.push(['Accept', route.endsWith(' html') ? 'text/html' : 'application/json']);
        const res = await rawRequest(fx.port, { target: route.split(' ')[0]!, headers: hdrs, host: hostHeader });
        tally.add(route.split('?')[0]!, proxy ? 'proxy' : '', baseUrl ? 'baseUrl' : '', res.status, refusedByNode(res) ? 'node' : '');
        checkAnswer(fx, res);
        if (refusedByNode(res)) return await fx.healthy();

        const location = header(res, 'location');
        const target = location === undefined ? undefined : new URL(location, fx.base);
        if (baseUrl) {
          assert.ok(!res.text.includes(HOST_MARKER), `with baseUrl, an answer names the request's Host:\n${res.text.slice(0, 1500)}`);
          assert.ok(!res.text.includes(XFH_MARKER), `with baseUrl, an answer names the request's X-Forwarded-Host:\n${res.text.slice(0, 1500)}`);
          if (target?.origin + (target?.pathname ?? '') === fx.providerEndpoints[0]) {
            assert.match(target!.searchParams.get('redirect_uri')!, new RegExp(`^${fx.base}/openid/(hostile|formpost)/auth$`));
          }
          if (target?.origin + (target?.pathname ?? '') === fx.providerEndpoints[1]) {
            assert.equal(target!.searchParams.get('post_logout_redirect_uri'), `${fx.base}/openid/hostile/logged-out`);
          }
          if (route === '/openid/hostile/logout' && site === null && fill(origin ?? '') !== fx.base) {
            assert.equal(res.status, 200, 'with baseUrl, a logout without Sec-Fetch-Site and with a foreign Origin is only a confirmation page');
          }
        }
        if (!proxy) {
          assert.ok(!res.text.includes(XFH_MARKER), `without app.proxy, an answer names the X-Forwarded-Host:\n${res.text.slice(0, 1500)}`);
          for (const cookie of headers(res, 'set-cookie')) {
            assert.ok(!cookie.startsWith('__Host-') && !/;\s*secure/i.test(cookie), `without app.proxy, a Secure cookie on plain http: ${cookie}`);
          }
        } else if (xfp === 'https') {
          for (const cookie of headers(res, 'set-cookie')) assert.ok(cookie.startsWith('__Host-'), `behind a proxy saying https, the cookie is __Host-: ${cookie}`);
        }
        await fx.healthy();
      },
    ),
    fuzzParams(150),
  );
  tally.print();
});
