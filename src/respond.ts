import type { Context } from 'koa';
import type { OpenIDError } from './errors.js';

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

const PAGE_STYLE =
  'body{font:16px/1.45 system-ui,sans-serif;margin:3rem auto;max-width:36rem;padding:0 1rem;color:#1d1d1f}' +
  'h1{font-size:1.5rem;margin-bottom:.5rem}code{background:#f4f4f7;padding:.1rem .35rem;border-radius:4px}' +
  '.actions{display:flex;gap:.5rem;margin-top:1.5rem}.muted{color:#666}' +
  'a.button{font:inherit;padding:.4rem .9rem;border-radius:6px;border:1px solid #888;color:inherit;text-decoration:none}' +
  'a.primary{background:#2f5bd3;border-color:#2f5bd3;color:#fff}';

/** A link of a {@link sendPage} page: `href` must be a same-origin path or a URL we built. */
export interface PageLink {
  text: string;
  href: string;
  primary?: boolean;
}

/**
 * Answers with a small, self-contained HTML page (the library's error and notice pages): no script,
 * inline style only (a strict CSP), never cached. `title` and `text` are plain text.
 */
export function sendPage(ctx: Context, title: string, text: string, links: PageLink[] = [], detail?: string): void {
  const actions = links
    .map((l) => `<a class="button${l.primary ? ' primary' : ''}" href="${escapeHtml(l.href)}">${escapeHtml(l.text)}</a>`)
    .join('');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.type = 'html';
  ctx.body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head><body>` +
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>` +
    (detail ? `<p class="muted"><code>${escapeHtml(detail)}</code></p>` : '') +
    (actions ? `<div class="actions">${actions}</div>` : '') +
    `</body></html>`;
}

/**
 * A server-side failure (5xx: a provider or the session store down, discovery failing) is also a
 * Koa `error` event, as Koa apps expect of failures someone must see: `app.on('error', ...)` gets
 * the {@link OpenIDError}, with the failing endpoint's `origin` and `causeCode`, never a token.
 * The answer is already set. A failure of an outage already reported is not emitted again.
 */
export function reportServerError(ctx: Context, err: OpenIDError): void {
  if (err.status >= 500 && !err.ongoing) ctx.app.emit('error', err, ctx);
}
