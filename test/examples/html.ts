/** Reading the examples' pages in tests: elements are found by their `data-testid`. */
import { decodeHtml } from '../support/http-client.js';

export { decodeHtml };

/** The text inside the element carrying `data-testid="<id>"` (decoded), or `undefined`. */
export function testId(html: string, id: string): string | undefined {
  const match = new RegExp(`<(\\w+)[^>]*\\bdata-testid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match ? decodeHtml(match[2]!) : undefined;
}

/** The `href` of the link carrying `data-testid="<id>"` (decoded), or `undefined`. */
export function testIdHref(html: string, id: string): string | undefined {
  const tag = new RegExp(`<a[^>]*\\bdata-testid="${id}"[^>]*>`).exec(html)?.[0];
  const href = tag && /\bhref="([^"]*)"/.exec(tag)?.[1];
  return href === undefined ? undefined : decodeHtml(href);
}
