import type { Context } from 'koa';

/** A browser navigation (it asks for HTML) rather than an API client. */
export function wantsHtml(ctx: Context): boolean {
  return (ctx.get('accept') || '').includes('text/html');
}

/** `s` fit for HTML text and quoted attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** True once something has set a response (a body, a redirect, or a status other than the default 404). */
export function responded(ctx: Context): boolean {
  return ctx.body != null || ctx.status !== 404;
}
