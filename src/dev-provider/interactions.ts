/**
 * Non-interactive mode: no login or consent page. Every interaction finishes at once for the
 * chosen account, and consent grants whatever the request is missing.
 */
import type Koa from 'koa';

import type { OidcProviderModule } from './load-oidc-provider.js';
import type { InteractionDetails, Provider } from './types.js';

const INTERACTION_PATH = /^\/interaction\/([^/]+)$/;

/** Where oidc-provider sends the browser for an interaction: answered by {@link finishInteractions}. */
export const interactionUrl = (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`;

/**
 * oidc-provider's default interaction policy, plus (non-interactive mode) a login check that asks
 * for a new login when the provider session belongs to another account than `account()`: so that
 * `setAccount()` takes effect even while a provider session exists.
 */
export function interactionPolicy(
  { interactionPolicy: policies }: OidcProviderModule,
  interactive: boolean,
  account: () => string,
): ReturnType<OidcProviderModule['interactionPolicy']['base']> {
  const policy = policies.base();
  if (!interactive) {
    policy.get('login')?.checks.push(
      new policies.Check('dev_account_changed', 'the dev account was changed', (ctx) => {
        const current: string | undefined = ctx.oidc.session.accountId;
        return current !== undefined && current !== account() && !ctx.oidc.result?.login;
      }),
    );
  }
  return policy;
}

/** Answers `GET /interaction/:uid` by finishing the login or consent prompt without a page. */
export function finishInteractions(provider: Provider, account: () => string): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || !INTERACTION_PATH.test(ctx.path)) return next();

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { name } = details.prompt;
    let result: Record<string, unknown>;
    if (name === 'login') {
      result = { login: { accountId: account() } };
    } else if (name === 'consent') {
      result = { consent: { grantId: await grantEverythingAsked(provider, details) } };
    } else {
      return ctx.throw(501, `dev provider: prompt ${name} is not handled`);
    }

    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: name === 'consent',
    });
    ctx.redirect(returnTo);
    ctx.status = 303;
    return undefined;
  };
}

/** Adds whatever the consent prompt says is missing to the existing (or a new) grant. */
async function grantEverythingAsked(provider: Provider, details: InteractionDetails): Promise<string> {
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant =
    existing ??
    new provider.Grant({
      accountId: details.session!.accountId,
      clientId: details.params.client_id,
    });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}
