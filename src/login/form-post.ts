import type { Context } from 'koa';
import { randomBytes } from 'node:crypto';
import { escapeHtml as escape } from '../respond.js';

/** The field that marks a form_post callback we re-posted ourselves. */
export const RESUBMIT_FIELD = 'koa_session_openid_resubmit';


/**
 * `response_mode=form_post` arrives as a cross-site POST from the provider, which carries no
 * SameSite=Lax session cookie: the login's transaction cannot be found. Such a POST (cross-site by
 * `Sec-Fetch-Site`, or without a session) is answered with a page that posts the same fields
 * once more from our own origin, where the cookie is sent.
 */
export function needsResubmit(ctx: Context, params: URLSearchParams, sessionIsNew: boolean): boolean {
  if (ctx.method !== 'POST' || params.has(RESUBMIT_FIELD)) return false;
  return ctx.get('sec-fetch-site') === 'cross-site' || sessionIsNew;
}

export function renderResubmit(ctx: Context, params: URLSearchParams): void {
  const nonce = randomBytes(16).toString('base64');
  const fields = [...params, [RESUBMIT_FIELD, '1']]
    .map(([k, v]) => `<input type="hidden" name="${escape(k!)}" value="${escape(v!)}">`)
    .join('');
  ctx.status = 200;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'`);
  ctx.body =
    `<!doctype html><meta charset="utf-8"><title>Signing in…</title>` +
    `<form method="post" action="${escape(ctx.path)}">${fields}<noscript><button type="submit">Continue</button></noscript></form>` +
    `<script nonce="${nonce}">document.forms[0].submit()</script>`;
}
