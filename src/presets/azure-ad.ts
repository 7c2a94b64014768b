import type { OpenIDOptions } from '../options.js';

/** What `azureAD()` takes: the tenant instead of `configuration`/`issuer`; every other option as usual. */
export interface AzureADOptions extends Omit<OpenIDOptions, 'configuration' | 'issuer' | 'name' | 'kind'> {
  /**
   * A tenant id (GUID): only that tenant's users; `'organizations'`: work and school accounts of any
   * tenant; `'common'`: those and personal Microsoft accounts; `'consumers'`: personal accounts only.
   * With `common` and `organizations` give `allowedTenants` too.
   */
  tenant: string;
  /** The Entra ID host: `https://login.microsoftonline.com` (default), or a national cloud's. */
  authority?: string;
  /** Default `'azure'`. */
  name?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The tenant of personal Microsoft accounts: the `consumers` endpoints' issuer names it. */
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/**
 * The options of Microsoft Entra ID (Azure AD) v2 endpoints. A single tenant's issuer is exact; for
 * `common` and `organizations` the issuer is the `{tenantid}` template, and each token must name its
 * own tenant, one of `allowedTenants` (required: a list of tenant ids, or `'any'` knowingly).
 * Front-channel logout accepts `sid` alone (Entra ID sends no `iss`), and `offline_access` is asked
 * so that logins can be refreshed. The provider then has `requireAppRole()` (app roles, `roles`).
 * Key users by `tid` + `oid`, never by `email`, `upn` or `preferred_username`: those are editable
 * (the nOAuth account takeovers).
 */
export function azureAD(options: AzureADOptions): OpenIDOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('azureAD(options): "options" must be an object');
  const { tenant, authority = 'https://login.microsoftonline.com', name = 'azure', ...rest } = options;
  const multi = tenant === 'common' || tenant === 'organizations';
  if (!multi && tenant !== 'consumers' && !(typeof tenant === 'string' && GUID.test(tenant))) {
    throw new TypeError('azureAD(): "tenant" must be a tenant id (a lower-case GUID), \'common\', \'organizations\' or \'consumers\'');
  }
  if (multi && rest.allowedTenants === undefined) {
    throw new TypeError(`azureAD(): tenant '${tenant}' lets every tenant's users in: give "allowedTenants" (tenant ids), or 'any' knowingly`);
  }
  if (!multi && rest.allowedTenants !== undefined) throw new TypeError('azureAD(): "allowedTenants" is for tenant \'common\' or \'organizations\'');
  let host: URL;
  try {
    host = new URL(authority);
  } catch {
    throw new TypeError('azureAD(): "authority" must be a URL, e.g. https://login.microsoftonline.com');
  }
  const origin = `${host.origin}${host.pathname.replace(/\/+$/, '')}`;
  const issuerTenant = multi ? '{tenantid}' : tenant === 'consumers' ? CONSUMERS_TENANT : tenant;
  return {
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    frontchannelLogoutRequiresIss: false,
    ...rest,
    name,
    kind: 'azure-ad',
    issuer: `${origin}/${issuerTenant}/v2.0`,
    configuration: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
  };
}
