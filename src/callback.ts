import type { Context } from 'koa';
import * as client from 'openid-client';
import { callbackParams } from './callback-params.js';
import type { Provider } from './discovery.js';
import { OpenIDError } from './errors.js';
import { readLogin, removeLogin, unionScopes, writeLogin, type UserLogin } from './login-record.js';
import type { LoginResult, ResolvedOptions } from './options.js';
import { fromProviderError } from './provider-errors.js';
import { responded } from './render-error.js';
import { sessionOf } from './session-access.js';
import { takeTransaction, type Transaction } from './transactions.js';
import { checkIdToken } from './id-token.js';

/** Exchanges the code (with the PKCE verifier, state and nonce checks of openid-client). */
async function exchangeCode(provider: Provider, tx: Transaction, params: URLSearchParams, state: string) {
  const currentUrl = new URL(tx.redirectUri);
  currentUrl.search = params.toString();
  try {
    return await client.authorizationCodeGrant(provider.config, currentUrl, {
      pkceCodeVerifier: tx.verifier,
      expectedState: state,
      expectedNonce: tx.nonce,
      idTokenExpected: true,
      ...(tx.maxAge !== undefined ? { maxAge: tx.maxAge } : {}),
    });
  } catch (err) {
    throw fromProviderError(err, 'token request');
  }
}

/**
 * The callback ("auth") route. Every path validates, in this order: parameters (no repeats, sizes),
 * `state` (known to this session, this provider, unexpired, single use), the provider's `error`,
 * the RFC 9207 `iss` parameter and the code exchange (openid-client), then the ID token on our side
 * (signature with the provider's JWKS, `alg`, `iss`, `aud`/`azp`, `exp`, `iat`, `sub`, `nonce`).
 * Only then is the login stored, the session id renewed (fixation), and `handleUserLogin` called.
 */
export async function completeLogin(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const params = await callbackParams(ctx);
  const session = sessionOf(ctx);
  const state = params.get('state');
  const tx = takeTransaction(session, state, opts.name, opts.loginTimeout * 1000);

  const provider = await getProvider();
  // RFC 9207 §2.4: the issuer is checked on error responses too (openid-client checks it on success).
  const iss = params.get('iss');
  if ((iss !== null || provider.server.authorization_response_iss_parameter_supported) && iss !== provider.issuer) {
    throw new OpenIDError('issuer_mismatch', 'the authorization response names another issuer, or none (RFC 9207)');
  }
  const error = params.get('error');
  if (error !== null) {
    throw new OpenIDError('provider_error', 'the provider did not complete the login', { providerError: error });
  }
  if (!params.get('code')) throw new OpenIDError('invalid_request', 'the callback has no "code" parameter');
  const tokens = await exchangeCode(provider, tx, params, state!);
  const claims = await checkIdToken(provider, opts, tokens.id_token, { nonce: tx.nonce, maxAge: tx.maxAge });

  const now = Math.floor(Date.now() / 1000);
  const previous = readLogin(session, opts.name);
  const granted = tokens.scope ? tokens.scope.split(' ').filter(Boolean) : tx.scope.split(' ');
  const login: UserLogin = {
    claims,
    scopes: previous?.claims.sub === claims.sub ? unionScopes(previous.scopes, granted) : granted,
    ...(typeof tokens.expires_in === 'number' ? { expiresAt: now + tokens.expires_in } : {}),
    loggedInAt: now,
    tokens: {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
    },
  };
  writeLogin(session, opts.name, login);
  // Session fixation: a completed login gets a new session id; the data (other providers' logins,
  // other pending logins) moves along.
  await session.regenerate?.();

  const result: LoginResult = { ...login, provider: opts.name, returnTo: tx.returnTo };
  ctx.state.user = claims;
  ctx.state.openid = { provider: opts.name, claims, scopes: login.scopes, expiresAt: login.expiresAt };
  if (opts.handleUserLogin) {
    ctx.status = 404;
    try {
      await opts.handleUserLogin(ctx, result);
    } catch (err) {
      removeLogin(sessionOf(ctx), opts.name);
      throw err;
    }
    if (responded(ctx)) return;
  }
  ctx.redirect(tx.returnTo);
}
