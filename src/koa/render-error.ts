import type { Context } from 'koa';
import type { OpenIDError } from '../errors.js';
import type { HandleError } from '../options.js';
import { debug } from '../debug.js';
import { escapeHtml, reportServerError, responded, wantsHtml } from '../respond.js';


/**
 * Answers `err`: the app's `handleError` hook first (when it sets no response, the default
 * applies), else a small HTML page for browsers or `{ error, error_description }` JSON.
 */
export async function renderError(ctx: Context, err: OpenIDError, hook?: HandleError, home = '/'): Promise<void> {
  debug('%s %s -> %d %s: %s', ctx.method, ctx.path, err.status, err.code, err.message);
  reportServerError(ctx, err);
  ctx.set('Cache-Control', 'no-store');
  if (hook) {
    // Koa's default status is an implicit 404: a hook that sets a body gets a 200, as in any route.
    await hook(ctx, err);
    if (responded(ctx)) return;
  }
  ctx.status = err.status;
  if (wantsHtml(ctx)) {
    ctx.type = 'html';
    ctx.body =
      `<!doctype html><meta charset="utf-8"><title>Login failed</title>` +
      `<h1>Login failed</h1><p>${escapeHtml(err.message)}</p><p><code>${err.code}</code></p><p><a href="${escapeHtml(home)}">Home</a></p>`;
  } else {
    ctx.body = err.toJSON();
  }
}
