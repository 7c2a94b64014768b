import type { Context } from 'koa';
import type { OpenIDError, OpenIDErrorCode } from './errors.js';
import { sendPage, wantsHtml, type PageLink } from './respond.js';

/** Where an error page's links lead. */
export interface ErrorPageLinks {
  /** The app's home (`defaultReturnTo`). */
  home: string;
  /** The provider's login route, for "Try again". */
  login: string;
}

const UNAVAILABLE = new Set<OpenIDErrorCode>(['discovery_failed', 'provider_unavailable', 'session_unavailable']);
/** Errors a new attempt does not cure: their page offers no "Try again". */
const NO_RETRY = new Set<OpenIDErrorCode>(['insufficient_scope', 'forbidden', 'invalid_client']);

const TITLES: Partial<Record<OpenIDErrorCode, string>> = {
  login_required: 'Please log in',
  insufficient_scope: 'Access denied',
  forbidden: 'Access denied',
  invalid_client: 'Login is misconfigured',
};

/** What the page tells a person: the error's message, or plainer words for what a user did. */
function explain(err: OpenIDError): string {
  if (err.providerError === 'access_denied') return 'The login was cancelled, or the provider refused access. You are not logged in.';
  if (err.providerError === 'login_required') return 'You are not logged in at the provider.';
  if (UNAVAILABLE.has(err.code)) return `A service this page needs cannot be reached right now (${err.message}). Please try again in a moment.`;
  return `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`;
}

/**
 * The library's default answer to `err`: `{ error, error_description }` JSON for API clients, a
 * small styled page for browsers, with "Try again" (the login route) and "Home" when `links` are
 * known. Never cached.
 */
export function answerError(ctx: Context, err: OpenIDError, links?: ErrorPageLinks): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.status = err.status;
  if (!wantsHtml(ctx)) {
    ctx.body = err.toJSON();
    return;
  }
  const actions: PageLink[] = [];
  if (links && !NO_RETRY.has(err.code)) actions.push({ text: err.code === 'login_required' ? 'Log in' : 'Try again', href: links.login, primary: true });
  if (links) actions.push({ text: 'Home', href: links.home });
  const title = TITLES[err.code] ?? (UNAVAILABLE.has(err.code) ? 'Temporarily unavailable' : 'Login failed');
  sendPage(ctx, title, explain(err), actions, err.code);
}
