import * as client from 'openid-client';
import { debug } from '../debug.js';
import { clientAuth } from './client-auth.js';
import { OpenIDError } from '../errors.js';
import { RemoteKeySet } from './jwks.js';
import { isAsymmetricAlgorithm } from '../jws-algorithms.js';
import type { ResolvedOptions } from '../options.js';
import { isTenantId, TENANT_PLACEHOLDER, type TenantRule } from '../jwt/tenant-issuer.js';
import { verifyIdTokensOurselves } from './own-id-token.js';

/** Everything learnt from the provider's discovery document, ready to use. */
export interface Provider {
  /** openid-client's configuration (server metadata + client + auth method). */
  config: client.Configuration;
  server: client.ServerMetadata;
  issuer: string;
  keys: RemoteKeySet;
  /** Algorithms accepted for ID tokens. */
  idTokenAlgorithms: string[];
  /** A multi-tenant issuer (`{tenantid}`): the rule every token's `iss` and `tid` follow (jwt/tenant-issuer.ts). */
  tenants?: TenantRule;
  /** With `acceptV1Tokens`: the Entra ID v1 issuer access tokens may also name (a template when multi-tenant). */
  v1Issuer?: string;
}

const V1_ISSUER = `https://sts.windows.net/${TENANT_PLACEHOLDER}/`;

/** The v1 issuer for `acceptV1Tokens`: the template, or the single tenant's (its id read from the v2 issuer). */
function v1IssuerOf(issuer: string, multiTenant: boolean, name: string): string {
  if (multiTenant) return V1_ISSUER;
  const tid = new URL(issuer).pathname.split('/').find(isTenantId);
  if (!tid) throw new OpenIDError('discovery_failed', `provider "${name}": "acceptV1Tokens" needs a Microsoft Entra ID issuer with a tenant id`);
  return V1_ISSUER.replace(TENANT_PLACEHOLDER, tid);
}

const WELL_KNOWN_OIDC = '/.well-known/openid-configuration';
const WELL_KNOWN_OAUTH = '/.well-known/oauth-authorization-server';

/**
 * The issuer a discovery document at `url` must name (OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3):
 * the URL without its well-known suffix. A URL without a well-known segment is the issuer itself.
 */
export function expectedIssuer(url: string): string {
  const u = new URL(url);
  if (u.pathname.endsWith(WELL_KNOWN_OIDC)) {
    return u.origin + u.pathname.slice(0, -WELL_KNOWN_OIDC.length);
  }
  if (u.pathname.startsWith(WELL_KNOWN_OAUTH)) {
    return u.origin + u.pathname.slice(WELL_KNOWN_OAUTH.length);
  }
  return url;
}

function sameIssuer(a: string, b: string, exact: boolean): boolean {
  if (a === b) return true;
  // An issuer given without a well-known suffix may differ from the document by a trailing "/" only.
  return !exact && new URL(a).href === new URL(b).href;
}

/**
 * Fetches the discovery document once and caches the result. While the provider is down the
 * failure is remembered for `jwksCooldown`: calls fail at once with `discovery_failed` (503), and
 * the next call after that tries again (concurrent calls share one attempt). A provider that is
 * down at startup does not take the app down, and is not hammered either.
 */
export class ProviderConnection {
  readonly #opts: ResolvedOptions;
  #ready: Provider | undefined;
  #pending: Promise<Provider> | undefined;
  #failure: { at: number; error: unknown } | undefined;

  constructor(opts: ResolvedOptions) {
    this.#opts = opts;
  }

  get(): Promise<Provider> {
    if (this.#ready) return Promise.resolve(this.#ready);
    // While the provider is down it is asked at most once per cooldown, however many requests come.
    if (this.#failure && Date.now() - this.#failure.at < this.#opts.jwksCooldown * 1000) return Promise.reject(this.#failure.error);
    this.#pending ??= this.#discover().then(
      (p) => {
        this.#ready = p;
        this.#pending = undefined;
        this.#failure = undefined;
        return p;
      },
      (err: unknown) => {
        this.#pending = undefined;
        this.#failure = { at: Date.now(), error: err };
        throw err;
      },
    );
    return this.#pending;
  }

  async #discover(): Promise<Provider> {
    const o = this.#opts;
    const url = new URL(o.configuration);
    const metadata: Partial<client.ClientMetadata> = {
      ...(o.clientSecret ? { client_secret: o.clientSecret } : {}),
      // openid-client accepts a list here; it then checks the ID token's "alg" against it.
      ...(o.idTokenAlgorithms ? { id_token_signed_response_alg: o.idTokenAlgorithms as unknown as string } : {}),
      [client.clockTolerance]: o.clockTolerance,
    };
    let config: client.Configuration;
    try {
      config = await client.discovery(url, o.clientId, metadata, client.None(), {
        timeout: o.timeout,
        execute: o.allowInsecureRequests ? [client.allowInsecureRequests] : [],
      });
    } catch (err) {
      debug('discovery of "%s" failed: %s', o.name, (err as Error).message);
      throw new OpenIDError('discovery_failed', `the discovery document of provider "${o.name}" could not be loaded`, { cause: err, url: o.configuration });
    }
    const server = config.serverMetadata();
    const expected = o.issuer ?? expectedIssuer(o.configuration);
    if (typeof server.issuer !== 'string' || !sameIssuer(expected, server.issuer, Boolean(o.issuer) || expected !== o.configuration)) {
      debug('discovery of "%s": issuer mismatch', o.name);
      throw new OpenIDError('discovery_failed', `the discovery document of provider "${o.name}" names another issuer than expected`, { url: o.configuration });
    }
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof server[key] !== 'string') {
        throw new OpenIDError('discovery_failed', `the discovery document of provider "${o.name}" has no "${key}"`, { url: o.configuration });
      }
    }
    if (o.userInfo && typeof server.userinfo_endpoint !== 'string') {
      throw new OpenIDError('discovery_failed', `the discovery document of provider "${o.name}" has no "userinfo_endpoint" (option userInfo)`, { url: o.configuration });
    }
    // Rebuild with the client authentication chosen from the now known server metadata.
    const final = new client.Configuration(server, o.clientId, metadata, clientAuth(o, server));
    final.timeout = o.timeout;
    if (o.allowInsecureRequests) client.allowInsecureRequests(final);
    const multiTenant = server.issuer.includes(TENANT_PLACEHOLDER);
    if (multiTenant) verifyIdTokensOurselves(final, server.token_endpoint!);
    const advertised = (server.id_token_signing_alg_values_supported ?? []).filter(isAsymmetricAlgorithm);
    return {
      config: final,
      server,
      issuer: server.issuer,
      keys: new RemoteKeySet(new URL(server.jwks_uri!), {
        timeoutMs: o.timeout * 1000,
        cooldownMs: o.jwksCooldown * 1000,
        maxAgeMs: o.jwksMaxAge * 1000,
        allowInsecure: o.allowInsecureRequests,
      }),
      idTokenAlgorithms: o.idTokenAlgorithms ?? (advertised.length ? advertised : ['RS256']),
      ...(multiTenant ? { tenants: { template: server.issuer, allowed: o.allowedTenants ?? [] } } : {}),
      ...(o.acceptV1Tokens ? { v1Issuer: v1IssuerOf(server.issuer, multiTenant, o.name) } : {}),
    };
  }
}
