import { OpenIDError, type OpenIDErrorCode } from '../errors.js';

/**
 * Multi-tenant issuers (Microsoft Entra ID's `/common` and `/organizations`): the discovery document
 * names `https://login.microsoftonline.com/{tenantid}/v2.0`, and each token's `iss` must be that
 * template with the token's own `tid` in it. Peers got this wrong both ways: comparing the template
 * itself (no login ever works), or only a prefix, or substituting any `tid` (every tenant's users
 * get in: a cross-tenant authentication bypass). Here `tid` must be a GUID and an allowed tenant,
 * and `iss` must be exactly the template with that `tid`.
 */
export const TENANT_PLACEHOLDER = '{tenantid}';

export interface TenantRule {
  /** The issuer with `{tenantid}` in it, as the discovery document names it. */
  template: string;
  /** The tenant ids whose tokens are accepted, or `'any'`. */
  allowed: readonly string[] | 'any';
  /** Also accept this issuer template (Entra ID v1 access tokens, `https://sts.windows.net/{tenantid}/`). */
  v1Template?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isTenantId = (value: unknown): value is string => typeof value === 'string' && GUID.test(value);

/** The issuer part of a JWT check for a provider: its issuer, and its tenant rule when it is multi-tenant. */
export function issuerCheck(provider: { issuer: string; tenants?: TenantRule | undefined }): { issuer: string; tenants?: TenantRule } {
  return provider.tenants ? { issuer: provider.issuer, tenants: provider.tenants } : { issuer: provider.issuer };
}

/**
 * The issuers a token with these claims may name, or a failure: no GUID `tid` (`errorCode`), a
 * tenant that is not allowed (`tenant_not_allowed`, 403).
 */
export function tenantIssuers(claims: Record<string, unknown>, rule: TenantRule, errorCode: OpenIDErrorCode): string[] {
  const tid = claims.tid;
  if (!isTenantId(tid)) throw new OpenIDError(errorCode, 'the token has no valid "tid" (tenant id) claim');
  if (rule.allowed !== 'any' && !rule.allowed.includes(tid)) {
    throw new OpenIDError('tenant_not_allowed', 'the token comes from a tenant this app does not allow');
  }
  const issuers = [rule.template.replace(TENANT_PLACEHOLDER, tid)];
  if (rule.v1Template) issuers.push(rule.v1Template.replace(TENANT_PLACEHOLDER, tid));
  return issuers;
}

/** Whether `value` is the template with some tenant id in it (an RFC 9207 `iss` response parameter, before the ID token names the tenant). */
export function fitsTemplate(value: string, rule: TenantRule): boolean {
  const [prefix, suffix] = rule.template.split(TENANT_PLACEHOLDER) as [string, string];
  return value.length === prefix.length + 36 + suffix.length && value.startsWith(prefix) && value.endsWith(suffix) && isTenantId(value.slice(prefix.length, prefix.length + 36));
}

/**
 * A signing key's `issuer` member (Entra ID's JWKS lists it per key) must fit: the template itself
 * (a key shared by all tenants) or the token's own issuer (a tenant's own key).
 */
export function keyIssuerFits(keyIssuer: unknown, rule: TenantRule, issuers: readonly string[]): boolean {
  if (keyIssuer === undefined) return true;
  return typeof keyIssuer === 'string' && (keyIssuer === rule.template || keyIssuer === rule.v1Template || issuers.includes(keyIssuer));
}
