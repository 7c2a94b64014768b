/** Checks of the URLs and host names the development provider is given. */

/** `value` as an absolute http(s) URL without fragment, or `undefined`. */
export function httpUrl(value: string): URL | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '' && !value.includes('#') ? url : undefined;
}

/** `value` as a host name or IP address (as a URL writes it, lower case), or `undefined` (a port, a path, user info...). */
export function hostName(value: string): string | undefined {
  if (value === '' || /[\s@/?#\\]/.test(value) || !URL.canParse(`http://${value}`)) return undefined;
  const url = new URL(`http://${value}`);
  return url.host === value.toLowerCase() && url.port === '' ? url.hostname : undefined;
}
