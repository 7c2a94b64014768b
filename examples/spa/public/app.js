// The single-page app: plain JavaScript, no build, no framework. It logs in at the provider as a
// public client (no secret: a page cannot keep one) and calls the API with the access token.
//
// - "Log in": the authorization code flow with PKCE (RFC 7636, S256). state, nonce and the PKCE
//   verifier wait in sessionStorage (this tab only) while the browser visits the provider; the
//   code is exchanged at the token endpoint with fetch (the provider allows this origin by CORS).
// - "Log in (implicit id_token token)": for providers that offer nothing else. The tokens come
//   back in the URL fragment (never sent to any server), the nonce and at_hash are checked here.
// - Tokens are kept in memory only (not localStorage, where every script of this origin could read
//   them for as long as they live): a reload logs out.
// - Every token is sent as `Authorization: Bearer` (RFC 6750 §2.1), never in a URL.
//
// Everything shown on the page is set with textContent: nothing from a token or an answer is ever
// parsed as HTML.

const TX_KEY = 'spa-example:pending-login';

/** From /config.json: issuer, clientId, resource (the API), scopes. */
let config;
/** The provider's discovery document. */
let provider;
/** The current login, in memory only: { flow, accessToken, scope, sub, expiresAt }. */
let login = null;

const $ = (id) => document.getElementById(id);
const testId = (id) => document.querySelector(`[data-testid="${id}"]`);
const redirectUri = () => `${location.origin}/`;

// --- small helpers ---------------------------------------------------------------------------

function base64url(bytes) {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function sha256(text) {
  return crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
}

/** The JSON of a JWT part (header or payload). Decoding only: no signature is checked here. */
function decodeJwtPart(jwt, index) {
  const part = String(jwt).split('.')[index];
  if (!part) throw new Error('not a JWT');
  const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

function showError(message) {
  const el = testId('error');
  el.textContent = message;
  el.hidden = !message;
}

// --- starting a login ------------------------------------------------------------------------

function requestedScope() {
  const scopes = ['openid', config.scopes.read];
  if ($('ask-admin').checked) scopes.push(config.scopes.admin);
  return scopes.join(' ');
}

/** Remembers the login for the return trip (this tab only) and sends the browser to the provider. */
function redirectToProvider(tx, params) {
  sessionStorage.setItem(TX_KEY, JSON.stringify(tx));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: tx.scope,
    state: tx.state,
    nonce: tx.nonce,
    // RFC 8707: a token for this API (a JWT with aud = the API), not one for userinfo.
    resource: config.resource,
    ...params,
  }).toString();
  location.assign(url.href);
}

async function loginWithCode() {
  const tx = { flow: 'code', state: randomToken(), nonce: randomToken(), verifier: randomToken(), scope: requestedScope() };
  redirectToProvider(tx, {
    response_type: 'code',
    code_challenge: base64url(await sha256(tx.verifier)),
    code_challenge_method: 'S256',
  });
}

function loginImplicit() {
  const tx = { flow: 'implicit', state: randomToken(), nonce: randomToken(), scope: requestedScope() };
  redirectToProvider(tx, { response_type: 'id_token token', response_mode: 'fragment' });
}

// --- coming back from the provider -----------------------------------------------------------

/** The authorization response in the address bar (query for code, fragment for implicit), if any. */
function takeAuthorizationResponse() {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  const where = query.has('state') || query.has('error') ? 'query' : fragment.has('state') || fragment.has('error') ? 'fragment' : null;
  if (!where) return null;
  // Out of the address bar and the history at once: the answer must not be reloaded, bookmarked
  // or shared, and the code must not leak (the server also sends Referrer-Policy: no-referrer).
  history.replaceState(null, '', location.pathname);
  return { where, params: where === 'query' ? query : fragment };
}

/**
 * Checks an ID token's claims against this login. It does NOT check the signature: a page cannot
 * verify signatures meaningfully. Whatever it concludes stays in the browser, where the user (or
 * any script running in this page) can change it, and nothing the server trusts depends on it.
 * The API verifies the access token (signature, issuer, audience, expiry, scopes) on every call.
 * In the code flow the ID token came straight from the token endpoint over the provider's TLS
 * connection (OpenID Connect Core §3.1.3.7); in the implicit flow the nonce and at_hash tie it to
 * this login and to the access token.
 */
function checkIdToken(idToken, tx) {
  const claims = decodeJwtPart(idToken, 1);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== config.issuer) throw new Error('the ID token is from another issuer');
  if (!audiences.includes(config.clientId)) throw new Error('the ID token is for another client');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now() - 30_000) throw new Error('the ID token has expired');
  if (claims.nonce !== tx.nonce) throw new Error('the ID token nonce does not match this login (replayed?)');
  if (typeof claims.sub !== 'string' || !claims.sub) throw new Error('the ID token has no sub');
  return claims;
}

/** OpenID Connect Core §3.2.2.9: at_hash binds the access token to the ID token (RS256/ES256/PS256). */
async function checkAtHash(idToken, accessToken) {
  const { alg } = decodeJwtPart(idToken, 0);
  const { at_hash: atHash } = decodeJwtPart(idToken, 1);
  if (!/^(RS|ES|PS)256$/.test(alg)) throw new Error(`unexpected ID token algorithm ${alg}`);
  const digest = new Uint8Array(await sha256(accessToken));
  if (atHash !== base64url(digest.slice(0, digest.length / 2))) throw new Error('at_hash does not match the access token');
}

async function exchangeCode(code, tx) {
  const res = await fetch(provider.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: tx.verifier,
      resource: config.resource,
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`the token endpoint answered ${res.status} ${body.error ?? ''}`.trim());
  return body;
}

async function completeLogin() {
  const response = takeAuthorizationResponse();
  if (!response) return;
  const tx = JSON.parse(sessionStorage.getItem(TX_KEY) ?? 'null');
  sessionStorage.removeItem(TX_KEY); // one use only
  const { where, params } = response;

  // state first: an answer to a login this tab did not start is dropped unread (CSRF).
  if (!tx || !params.get('state') || params.get('state') !== tx.state) {
    throw new Error('this login answer does not belong to a login started here (state mismatch)');
  }
  // RFC 9207: the answer names its issuer (oidc-provider sends it unless an ID token is in it).
  if (params.has('iss') ? params.get('iss') !== config.issuer : tx.flow === 'code' && provider.authorization_response_iss_parameter_supported) {
    throw new Error('the login answer comes from another issuer (mix-up)');
  }
  if (params.has('error')) {
    throw new Error(`the provider refused the login: ${params.get('error')} ${params.get('error_description') ?? ''}`.trim());
  }
  if (where !== (tx.flow === 'code' ? 'query' : 'fragment')) throw new Error('the login answer came in the wrong place');

  let tokens;
  if (tx.flow === 'code') {
    if (!params.get('code')) throw new Error('no code in the login answer');
    tokens = await exchangeCode(params.get('code'), tx);
  } else {
    tokens = Object.fromEntries(params);
    tokens.expires_in = Number(tokens.expires_in);
    if (!tokens.id_token || !tokens.access_token) throw new Error('the implicit answer lacks a token');
    await checkAtHash(tokens.id_token, tokens.access_token);
  }
  if (String(tokens.token_type).toLowerCase() !== 'bearer') throw new Error('not a bearer token');
  const claims = checkIdToken(tokens.id_token, tx);
  login = {
    flow: tx.flow === 'code' ? 'authorization code + PKCE' : 'implicit (id_token token)',
    accessToken: tokens.access_token,
    scope: tokens.scope ?? '',
    sub: claims.sub,
    expiresAt: Date.now() + (tokens.expires_in || 0) * 1000,
  };
}

// --- calling the API -------------------------------------------------------------------------

async function callApi(path) {
  showError('');
  testId('api-request').textContent = `GET ${path}`;
  const res = await fetch(path, {
    headers: { authorization: `Bearer ${login.accessToken}`, accept: 'application/json' },
    cache: 'no-store',
  });
  const body = await res.json().catch(() => null);
  testId('api-status').textContent = String(res.status);
  testId('api-challenge').textContent = res.headers.get('www-authenticate') ?? '–';
  testId('api-result').textContent = JSON.stringify(body, null, 2);
}

/**
 * Changes the access token's signature, so the API must refuse it. The first character of the
 * signature, not the last: the last base64url character of an RS256 signature also carries unused
 * padding bits, and flipping only those would leave the signature bytes as they were.
 */
function tamper() {
  const [header, payload, signature] = login.accessToken.split('.');
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
  login.accessToken = [header, payload, flipped].join('.');
  login.flow += ', signature tampered with';
  render();
}

// --- the page --------------------------------------------------------------------------------

function render() {
  const loggedIn = login !== null;
  testId('status').textContent = loggedIn ? `Logged in as ${login.sub}.` : 'Not logged in.';
  testId('sub').textContent = loggedIn ? login.sub : '–';
  testId('scopes').textContent = loggedIn ? login.scope : '–';
  testId('flow').textContent = loggedIn ? login.flow : '–';
  let claims = '';
  if (loggedIn) {
    try {
      claims = JSON.stringify(decodeJwtPart(login.accessToken, 1), null, 2);
    } catch {
      claims = '(not a JWT)';
    }
  }
  testId('token-claims').textContent = claims;
  for (const id of ['call-me', 'call-admin', 'tamper']) $(id).disabled = !loggedIn;
  for (const id of ['login-code', 'login-implicit']) $(id).disabled = !provider;
}

/** Runs a button's action; a failure is shown on the page, never thrown away. */
function on(id, action) {
  $(id).addEventListener('click', () => {
    Promise.resolve()
      .then(action)
      .catch((err) => showError(err.message));
  });
}

async function main() {
  on('login-code', loginWithCode);
  on('login-implicit', loginImplicit);
  on('call-me', () => callApi('/api/me'));
  on('call-admin', () => callApi('/api/admin'));
  on('tamper', tamper);
  try {
    config = await getJson('/config.json');
    const discovered = await getJson(`${config.issuer}/.well-known/openid-configuration`);
    if (discovered.issuer !== config.issuer) throw new Error('the discovery document names another issuer');
    provider = discovered;
    await completeLogin();
  } catch (err) {
    showError(err.message);
  }
  render();
  document.body.dataset.ready = 'true';
}

main();
