/** The scope tokens of a space-separated `scope` value (RFC 6749 §3.3), each once. */
export function splitScopes(scope: string): string[] {
  return [...new Set(scope.split(' ').filter(Boolean))];
}

/**
 * The scopes a token grants: `scope` (space separated: RFC 9068, RFC 7662, Keycloak) and `scp`
 * (Azure AD: a space separated string or an array).
 */
export function tokenScopes(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    const list: unknown[] = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const s of list) {
      if (typeof s === 'string' && s) out.add(s);
    }
  }
  return [...out];
}

/** The required scopes that `granted` lacks. */
export function missingScopes(required: readonly string[], granted: readonly string[]): string[] {
  return required.filter((s) => !granted.includes(s));
}
