import type { OpenIDOptions } from '../options.js';

/** What `keycloak()` takes: the server and realm instead of `configuration`/`issuer`; every other option as usual. */
export interface KeycloakOptions extends Omit<OpenIDOptions, 'configuration' | 'issuer' | 'name' | 'kind' | 'allowedTenants' | 'acceptV1Tokens'> {
  /**
   * The Keycloak server's base URL: `https://kc.example.com` (Keycloak 17+), or with its relative
   * path, `https://kc.example.com/auth` (older versions, or `KC_HTTP_RELATIVE_PATH=/auth`).
   */
  url: string;
  /** The realm's name. */
  realm: string;
  /**
   * Keycloak as this app reaches it, when that differs from `url` (Docker, Kubernetes: browsers use
   * `https://kc.example.com`, the app `http://keycloak:8080`): discovery is fetched there, and the
   * issuer stays `url`'s (Keycloak with `KC_HOSTNAME` set names it in every token).
   */
  internalUrl?: string;
  /** Default `'keycloak'`. */
  name?: string;
}

/**
 * The options of a Keycloak realm: discovery at `<url>/realms/<realm>`, whose issuer that is
 * exactly. The provider then has `roles(ctx)`, `hasRole()` and `requireRole()`, which read realm
 * and client roles from the verified access token (Keycloak puts them there, not in the ID token).
 */
export function keycloak(options: KeycloakOptions): OpenIDOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('keycloak(options): "options" must be an object');
  const { url, realm, internalUrl, name = 'keycloak', ...rest } = options;
  if (typeof realm !== 'string' || !realm) throw new TypeError('keycloak(): "realm" must be the realm\'s name');
  const issuer = realmUrl(url, realm, 'url');
  const discovered = internalUrl === undefined ? issuer : realmUrl(internalUrl, realm, 'internalUrl');
  return { ...rest, name, kind: 'keycloak', issuer, configuration: `${discovered}/.well-known/openid-configuration` };
}

/** `<server>/realms/<realm>` for a server URL given as option `key`. */
function realmUrl(server: string, realm: string, key: string): string {
  let base: URL;
  try {
    base = new URL(server);
  } catch {
    throw new TypeError(`keycloak(): "${key}" must be the Keycloak server's URL, e.g. https://kc.example.com`);
  }
  if ((base.protocol !== 'https:' && base.protocol !== 'http:') || base.search || base.hash) {
    throw new TypeError(`keycloak(): "${key}" must be an http(s) URL without query or fragment`);
  }
  if (/\/realms(\/|$)/.test(base.pathname)) throw new TypeError(`keycloak(): "${key}" is the server's URL; give the realm as "realm"`);
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}/realms/${encodeURIComponent(realm)}`;
}
