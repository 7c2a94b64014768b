import type { Context } from 'koa';
import type { OpenIDError } from '../errors.js';
import { answerError, type ErrorPageLinks } from '../error-page.js';
import type { HandleError } from '../options.js';
import { debug } from '../debug.js';
import { reportServerError, responded } from '../respond.js';

/**
 * Answers `err`: the app's `handleError` hook first (when it sets no response, the default
 * applies), else the library's page or JSON ({@link answerError}). A 5xx is also reported as a
 * Koa `error` event.
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
  answerError(ctx, err, links);
}
