const MAX_LENGTH = 2048;
const PLACEHOLDER_ORIGIN = 'http://return-to.invalid';

/**
 * Returns `value` when it is a same-origin path (`/x?y#z`), else `fallback`.
 *
 * Rejected: absolute and scheme-relative URLs (`https://evil`, `//evil`), backslashes (`/\evil`,
 * which browsers read as `//evil`), control characters and white space (browsers strip tabs and
 * newlines, turning `/\t/evil` into `//evil`), and anything over 2048 characters. This closes the
 * open redirect of RFC 9700 §4.11.
 */
export function safeReturnTo(value: unknown, fallback: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LENGTH) return fallback;
  if (value[0] !== '/' || value[1] === '/' || value[1] === '\\') return fallback;
  if (/[\\\s\x00-\x1f\x7f]/.test(value)) return fallback;
  let url: URL;
  try {
    url = new URL(value, PLACEHOLDER_ORIGIN);
  } catch {
    return fallback;
  }
  if (url.origin !== PLACEHOLDER_ORIGIN) return fallback;
  const path = url.pathname + url.search + url.hash;
  return path.startsWith('//') ? fallback : path;
}
