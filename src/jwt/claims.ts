/**
 * The registered-claim checks (RFC 7519 §4.1) shared by verified JWTs and introspection answers
 * (RFC 7662 §2.2), and the decoding of a JWS's JSON segments.
 */

export interface ClaimRules {
  /** `iss` must equal this (or one of these) when present. */
  issuer: string | readonly string[];
  /** When given, `aud` (a string or an array of strings) must contain one of these. */
  audience?: string | readonly string[] | undefined;
  /** Seconds of leeway for `exp` and `nbf`. */
  clockTolerance: number;
  /** Claims that must be present. */
  required: readonly string[];
  /** Claims that must be NumericDates (finite numbers) when present. Default `exp`, `nbf`, `iat`. */
  dates?: readonly string[];
}

const DATE_CLAIMS = ['exp', 'nbf', 'iat'] as const;

/** RFC 7519 §2 NumericDate: a finite JSON number. */
export const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What is wrong with `claims` under `rules`, as a message that names the failed check and no
 * value, or `undefined` when nothing is. `now` in seconds.
 */
export function claimsProblem(claims: Record<string, unknown>, rules: ClaimRules, now = Date.now() / 1000): string | undefined {
  for (const claim of rules.required) if (!Object.hasOwn(claims, claim)) return `the "${claim}" claim is missing`;
  // RFC 7519 §4.1.2: a StringOrURI, naming someone (an empty or non-string subject names no one).
  if (claims.sub !== undefined && (typeof claims.sub !== 'string' || claims.sub.length === 0)) return 'the "sub" claim is not a non-empty string';
  for (const claim of rules.dates ?? DATE_CLAIMS) {
    const value = claims[claim];
    if (value !== undefined && !isNumericDate(value)) return `the "${claim}" claim is not a number`;
  }
  if (claims.iss !== undefined && (typeof rules.issuer === 'string' ? claims.iss !== rules.issuer : !rules.issuer.includes(claims.iss as string))) {
    return 'the token was issued by another issuer';
  }
  if (rules.audience !== undefined) {
    const aud = claims.aud;
    const granted = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    const expected = rules.audience;
    if (!granted.some((a) => typeof a === 'string' && (typeof expected === 'string' ? a === expected : expected.includes(a)))) {
      return 'the "aud" claim check failed';
    }
  }
  const tolerance = rules.clockTolerance;
  if (typeof claims.exp === 'number' && claims.exp <= now - tolerance) return 'the token has expired';
  if (typeof claims.nbf === 'number' && claims.nbf > now + tolerance) return 'the token is not valid yet';
  return undefined;
}

/**
 * A base64url segment of a compact JWS holding a JSON object (the header or the JWT claims), as
 * jose reads it: strict UTF-8, a top-level object. Throws a `TypeError` otherwise. The caller
 * has checked the alphabet.
 */
export function decodeJsonObject(segment: string): Record<string, unknown> {
  // A lone last character encodes no byte: not base64url (jose refuses it too).
  if (segment.length % 4 === 1) throw new TypeError('not base64url');
  const value: unknown = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('not a JSON object');
  return value as Record<string, unknown>;
}
