/**
 * The settings the examples' `create…App()` functions share: where the app runs, and the client
 * it is registered as at its provider. main.ts reads them from the environment (./env.ts); the
 * tests pass their own. The provider settings use the names of the options of `new OpenID()` (or
 * of its preset), so an example can spread them in: `new OpenID(app, { name, ...opts.provider })`.
 */

/** Where the app runs. */
export interface Site {
  /** The app's public origin, e.g. `http://localhost:3000`: the redirect URIs are built from it. */
  baseUrl: string;
  /** Where sessions live. Default: `REDIS_URL`, else in memory (development only). */
  redisUrl?: string;
}

/** Any OpenID provider, and the client the app is registered as there. */
export interface ProviderClient {
  /** The provider's discovery document URL (or issuer URL). */
  configuration: string;
  clientId: string;
  clientSecret: string;
  /** Plain http: only for a development provider on this machine. */
  allowInsecureRequests?: boolean;
}

/** A Keycloak realm, and the confidential client the app is registered as there. */
export interface KeycloakClient {
  /** Keycloak as browsers reach it, e.g. `http://localhost:8080`; the issuer is `<url>/realms/<realm>`. */
  url: string;
  realm: string;
  clientId: string;
  clientSecret: string;
  /**
   * Keycloak as the app reaches it, when that differs (Docker: `http://keycloak:8080`). Discovery is
   * read there; the issuer stays `<url>/realms/<realm>` (Keycloak's `KC_HOSTNAME_BACKCHANNEL_DYNAMIC`
   * then names this URL for the token endpoint and the keys).
   */
  internalUrl?: string;
}

/** A multi-tenant Microsoft Entra ID app registration ("Accounts in any organizational directory"). */
export interface AzureClient {
  /** The Application (client) ID. */
  clientId: string;
  clientSecret: string;
  /** The Directory (tenant) IDs whose users may log in. */
  allowedTenants: string[];
}
