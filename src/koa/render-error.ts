import type { Context } from 'koa';
import type { OpenIDError, OpenIDErrorCode } from '../errors.js';
import type { HandleError } from '../options.js';
import { debug } from '../debug.js';
import { reportServerError, responded, sendPage, wantsHtml, type PageLink } from '../respond.js';

export interface ErrorPageLinks {
  /** The app's home (`defaultReturnTo`). */
  home: string;
  /** The provider's login route, for "Try again". */
  login: string;
}

const TITLES: Partial<Record<OpenIDErrorCode, string>> = {
  login_required: 'Please log in',
  insufficient_scope: 'Access denied',
  forbidden: 'Access denied',
  discovery_failed: 'Temporarily unavailable',
  provider_unavailable: 'Temporarily unavailable',
  session_unavailable: 'Temporarily unavailable',
  invalid_client: 'Login is misconfigured',
};

/** What the page tells a person: the error's message, or plainer words for what a user did. */
function explain(err: OpenIDError): string {
  if (err.providerError === 'access_denied') return 'The login was cancelled, or the provider refused access. You are not logged in.';
  if (err.providerError === 'login_required') return 'You are not logged in at the provider.';
  if (TITLES[err.code] === 'Temporarily unavailable') return `The login service cannot be reached right now (${err.message}). Please try again in a moment.`;
  return `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`;
}

/**
 * Answers `err`: the app's `handleError` hook first (when it sets no response, the default
 * applies), else a small styled HTML page for browsers (with "Try again" and "Home" links) or
 * `{ error, error_description }` JSON. A 5xx is also reported as a Koa `error` event.
 */
export async function renderError(ctx: Context, err: OpenIDError, hook: HandleError | undefined, links: ErrorPageLinks): Promise<void> {
  debug('%s %s -> %d %s: %s', ctx.method, ctx.path, err.status, err.code, err.message);
  reportServerError(ctx, err);
  ctx.set('Cache-Control', 'no-store');
  if (hook) {
    // Koa's default status is an implicit 404: a hook that sets a body gets a 200, as in any route.
    await hook(ctx, err);
    if (responded(ctx)) return;
  }
  ctx.status = err.status;
  if (!wantsHtml(ctx)) {
    ctx.body = err.toJSON();
    return;
  }
  const retry: PageLink = { text: err.code === 'login_required' ? 'Log in' : 'Try again', href: links.login, primary: true };
  const forbidden = err.code === 'insufficient_scope' || err.code === 'forbidden' || err.code === 'invalid_client';
  sendPage(ctx, TITLES[err.code] ?? 'Login failed', explain(err), [...(forbidden ? [] : [retry]), { text: 'Home', href: links.home }], err.code);
}
