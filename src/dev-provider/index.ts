/**
 * `koa-session-openid/dev-provider`: an OpenID provider for development and tests. oidc-provider
 * (an optional peer dependency: `npm install -D oidc-provider`), in-process, on
 * http://127.0.0.1:PORT, with an in-memory store, a few fixed accounts and dev signing keys.
 * NEVER use it in production. The library itself never imports this; `koa-session-openid
 * dev-provider` (./cli.ts) runs it from a terminal.
 *
 * Two modes:
 * - `interactive: true` (people, the demo, browser tests): oidc-provider's devInteractions pages.
 *   Any login name is accepted (an unknown name becomes an account with that `sub`); the password
 *   is ignored. Selectors, for Playwright or a form POST:
 *     login page:   `input[name="login"]` (text, required), `input[name="password"]` (required),
 *                   `button[type="submit"]` ("Sign-in"); the form also posts a hidden `prompt=login`.
 *     consent page: `button[type="submit"]` ("Continue"), hidden `prompt=consent`.
 *     Both forms POST to `/interaction/:uid` (their `action` attribute); the `<h1>` is
 *     "Sign-in" or "Authorize".
 * - `interactive: false` (the default, for tests): no login or consent page. Every interaction
 *   finishes at once for the account chosen by `accountId` / `setAccount()`, and consent grants
 *   whatever the request is missing (progressive consent, `prompt=consent`, native clients all
 *   work). When the provider session belongs to another account than the chosen one, a new login
 *   is forced.
 *
 * RP-initiated logout (`end_session_endpoint`, on in both modes; register the client's
 * `post_logout_redirect_uris`) shows oidc-provider's own confirmation page, as a real provider
 * does: a form (`id="op.logoutForm"`, hidden `xsrf`) with the button "Yes, sign me out"
 * (`button[name="logout"]`, posts `logout=yes`: the provider session ends, the next login asks
 * again) and "No, stay signed in" (only this client's authorization ends; the session stays).
 *
 * Back-channel logout is on when a client has a `backchannel_logout_uri`; logout tokens are posted
 * without oidc-provider's SSRF guard, so they reach apps on 127.0.0.1.
 *
 * What oidc-provider does by default, worth knowing in tests:
 * - ID tokens are signed RS256 (client metadata `id_token_signed_response_alg`).
 * - Scope claims (`profile`, `email`) go to userinfo, not into the code-flow ID token (unless
 *   `audience` is set: its access tokens are not for userinfo).
 * - A refresh token needs the client's `grant_types` to include `refresh_token`, the scope
 *   `offline_access` AND `prompt=consent` on the authorization request (else the scope is dropped);
 *   `refreshTokens: true` gives every login one.
 * - Native clients (`application_type: 'native'`) are always sent through consent.
 * - The RFC 9207 `iss` authorization response parameter is always sent and advertised.
 *
 * Importing this module loads oidc-provider; without it installed the import fails with
 * "the development provider needs oidc-provider: npm install -D oidc-provider".
 */
export { startDevProvider } from './start.js';
export { accountClaims, type AccountClaims } from './accounts.js';
export type {
  ClientMetadata,
  DevProvider,
  DevProviderOptions,
  Grant,
  InteractionDetails,
  Provider,
  ResourceServerInfo,
  TTL,
} from './types.js';
