/**
 * The examples' HTML pages: a title and a few lines of HTML. Whatever a page prints that comes from
 * a user or a provider goes through escapeHtml().
 */
import type { Context } from 'koa';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML, for element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}';

/**
 * Answers with an HTML page: `title` (text) as its title and heading, then `body` (HTML). It is
 * never cached (it shows personal data), runs no script and may not be framed. `style`: CSS added
 * to the page's own.
 */
export function sendPage(ctx: Context, title: string, body: string, { style = '' }: { style?: string } = {}): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = 'html';
  ctx.body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}${style}</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
