import type { JWSHeaderParameters, JWTPayload } from 'jose';
import { claimsProblem, decodeJsonObject, type ClaimRules } from './claims.js';
import { OpenIDError, type OpenIDErrorCode } from '../errors.js';
import { verifySignature, type VerifyKey } from './jws-signature.js';
import { notAnAccessToken } from './token-kind.js';
import type { KeyObject } from 'node:crypto';
import { keyIssuerFits, tenantIssuers, type TenantRule } from './tenant-issuer.js';

/** Where a token's verification keys come from: the provider's key set (provider/jwks.ts). */
export interface KeySource {
  /** The keys already known for this header, synchronously, or `undefined` when {@link candidates} must be asked. */
  known(header: JWSHeaderParameters): KeyObject[] | undefined;
  /** The keys that may have signed a JWS with this header (fetching them when needed). */
  candidates(header: JWSHeaderParameters): Promise<KeyObject[]>;
  /** The `issuer` member of the JWK a key came from, when it has one (Entra ID's keys do). */
  issuerOf?(key: KeyObject): unknown;
}

export interface JwtCheck {
  /** The issuer (or issuers); with `tenants`, the template (see tenant-issuer.ts). */
  issuer: string | readonly string[];
  /** A multi-tenant provider: `iss` must be the template with the token's own allowed `tid`. */
  tenants?: TenantRule;
  /** The audience `aud` must contain; absent: not checked (only for a token this app got from the token endpoint itself). */
  audience?: string | string[];
  /** Allowed JWS algorithms; `none` never passes, whatever is listed. */
  algorithms: readonly string[];
  /** Seconds. */
  clockTolerance: number;
  /** Claims that must be present besides `iss`, `aud` and `exp` (required unless `expOptional`). */
  requiredClaims?: string[];
  /** `exp` may be absent (a logout token's, Back-Channel Logout 1.0 §2.4); when present it is checked. */
  expOptional?: boolean;
  /** The error code to fail with (`invalid_token` or `invalid_id_token`). */
  errorCode: OpenIDErrorCode;
  /** The client secret, for `HS*` algorithms when (and only when) `algorithms` lists them. */
  hmacSecret?: Uint8Array;
  /** When the header has a `typ`, it must match (RFC 8725 §3.11: a JWT typed as another kind is refused). */
  typ?: RegExp;
  /**
   * An access-token check: ID tokens (and Keycloak's other token kinds) are refused, see
   * token-kind.ts; `audienceIsClient`: the audience includes the client id, so a positive sign of
   * an access token is required too.
   */
  accessToken?: { audienceIsClient: boolean };
}

const MAX_TOKEN_LENGTH = 16 * 1024;
/** The header `typ` of access tokens: RFC 9068's `at+jwt`, or plain `JWT` (Keycloak, Azure AD, ...). */
const ACCESS_TOKEN_TYP = /^(application\/)?(at\+)?jwt$/i;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Three base64url parts: a JWS (possibly unsigned); anything else is an opaque token. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Overrides a caller may give for an access-token check (`verifyToken`, `bearer()`). */
export interface AccessTokenCheckOptions {
  /** Expected `aud`. Default: the `clientId`. */
  audience?: string | string[];
  /** Allowed JWS algorithms. Default: the provider's advertised asymmetric ones (never `none`); `HS*` only when listed, then checked with the `clientSecret` (at least as long as the hash). */
  algorithms?: string[];
  /** Seconds. Default: the provider's `clockTolerance` option. */
  clockTolerance?: number;
}

/**
 * Why `secret` cannot check the `HS*` algorithms listed, or `undefined`: it is missing, or shorter
 * than the hash (RFC 7518 §3.2: "a key of the same size as the hash output or larger MUST be used").
 */
export function hmacSecretProblem(algorithms: readonly string[], secret: string | undefined): string | undefined {
  const bits = Math.max(0, ...algorithms.filter((a) => /^HS/.test(a)).map((a) => Number(a.slice(2))));
  if (bits === 0) return undefined;
  if (!secret) return 'HMAC "algorithms" need the "clientSecret"';
  if (Buffer.byteLength(secret) * 8 < bits) return `HS${bits} needs a "clientSecret" of at least ${bits / 8} bytes (RFC 7518 §3.2)`;
  return undefined;
}

/**
 * The check for a JWT access token of `provider`: its issuer; `audience` default the `clientId`; a
 * header `typ`, when present, of an access token (`at+jwt`, `JWT`); a `sub`; no ID token;
 * the provider's asymmetric algorithms unless `algorithms` says otherwise (`HS*` listed there are
 * checked with the client secret); `clockTolerance` default the provider option.
 */
export function accessTokenCheck(
  provider: { issuer: string; idTokenAlgorithms: string[]; tenants?: TenantRule | undefined; v1Issuer?: string | undefined },
  opts: { clientId: string; clientSecret?: string | undefined; clockTolerance: number },
  o: AccessTokenCheckOptions,
): JwtCheck {
  const algorithms = o.algorithms ?? provider.idTokenAlgorithms;
  const audience = o.audience ?? opts.clientId;
  const hmac = algorithms.some((a) => /^HS/.test(a));
  const problem = hmacSecretProblem(algorithms, opts.clientSecret);
  if (problem) throw new TypeError(problem);
  const { tenants, v1Issuer } = provider;
  return {
    // Entra ID v1 access tokens name another issuer (option acceptV1Tokens).
    issuer: v1Issuer && !tenants ? [provider.issuer, v1Issuer] : provider.issuer,
    ...(tenants ? { tenants: v1Issuer ? { ...tenants, v1Template: v1Issuer } : tenants } : {}),
    audience,
    algorithms,
    clockTolerance: o.clockTolerance ?? opts.clockTolerance,
    // RFC 9068 §2.2: an access token names its subject.
    requiredClaims: ['sub'],
    errorCode: 'invalid_token',
    typ: ACCESS_TOKEN_TYP,
    accessToken: { audienceIsClient: (typeof audience === 'string' ? [audience] : audience).includes(opts.clientId) },
    ...(hmac ? { hmacSecret: new TextEncoder().encode(opts.clientSecret) } : {}),
  };
}

/** The claim rules of a check, built once per check object. */
const claimRules = new WeakMap<JwtCheck, ClaimRules>();

function claimRulesOf(check: JwtCheck): ClaimRules {
  let rules = claimRules.get(check);
  if (!rules) {
    rules = {
      issuer: check.issuer,
      audience: check.audience,
      clockTolerance: check.clockTolerance,
      required: [...new Set(['iss', ...(check.audience === undefined ? [] : ['aud']), ...(check.expOptional ? [] : ['exp']), ...(check.requiredClaims ?? [])])],
    };
    claimRules.set(check, rules);
  }
  return rules;
}

/**
 * Decoded headers by their encoded form: a provider signs all its tokens with a handful of
 * headers, so each is parsed once. Bounded (cleared when full); entries are frozen.
 */
const headers = new Map<string, Readonly<JWSHeaderParameters>>();
const MAX_HEADERS = 64;

function decodeHeader(encoded: string): Readonly<JWSHeaderParameters> {
  let header = headers.get(encoded);
  if (!header) {
    header = Object.freeze(decodeJsonObject(encoded) as JWSHeaderParameters);
    if (headers.size >= MAX_HEADERS) headers.clear();
    headers.set(encoded, header);
  }
  return header;
}

/** A compact JWS whose shape, header, `alg` and `crit` passed; its signature and claims are next. */
interface ParsedJws {
  token: string;
  header: Readonly<JWSHeaderParameters>;
  alg: string;
}

function failure(check: JwtCheck, message: string): OpenIDError {
  return new OpenIDError(check.errorCode, message);
}

function parseJws(token: unknown, check: JwtCheck): ParsedJws {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token)) {
    throw failure(check, 'the token is not a signed JWT');
  }
  let header: Readonly<JWSHeaderParameters>;
  try {
    header = decodeHeader(token.slice(0, token.indexOf('.')));
  } catch {
    // No cause: a JSON parse error may quote the input.
    throw failure(check, 'the token header is malformed');
  }
  // RFC 7515 §4.1.4: a string (an object would not even make a lookup key).
  if (header.kid !== undefined && typeof header.kid !== 'string') throw failure(check, 'the token header is malformed');
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === 'none' || !check.algorithms.includes(alg)) {
    throw failure(check, 'the signing algorithm is not allowed');
  }
  // RFC 7515 §4.1.11: extensions a recipient does not understand must be refused; we understand none
  // (in particular not RFC 7797's unencoded payload, which JWTs may not use).
  if (header.crit !== undefined) throw failure(check, 'the token header lists critical extensions');
  if (check.accessToken && header.nonce !== undefined) {
    // Entra ID signs Microsoft Graph's access tokens over a hashed header nonce: only Graph can check them.
    throw failure(check, 'a Microsoft Graph access token (its header has a "nonce"): it is meant for Graph, and no other app can verify it; ask for a token for this API (its app ID URI scope)');
  }
  if (check.typ && header.typ !== undefined && !(typeof header.typ === 'string' && check.typ.test(header.typ))) {
    throw failure(check, 'the token header "typ" names another kind of token');
  }
  return { token, header, alg };
}

/** The keys to try without fetching anything: the client secret for `HS*`, else the JWKS keys already known (or `undefined`). */
function keysAtHand(jws: ParsedJws, keys: KeySource, check: JwtCheck): VerifyKey[] | undefined {
  // An HMAC token is only ever checked with the client secret: a public key is never an HMAC key.
  if (/^HS/.test(jws.alg)) return check.hmacSecret ? [check.hmacSecret] : [];
  return keys.known(jws.header);
}

/** The signature with one of `candidates`, then the claims. */
function verifyWith(jws: ParsedJws, candidates: VerifyKey[], check: JwtCheck, keys: KeySource): JWTPayload {
  if (candidates.length === 0) throw failure(check, 'no key of the provider matches the token ("kid" unknown)');
  const { token, alg } = jws;
  const payloadStart = token.indexOf('.') + 1;
  const signatureStart = token.lastIndexOf('.') + 1;
  const input = Buffer.from(token.slice(0, signatureStart - 1), 'latin1');
  const encodedSignature = token.slice(signatureStart);
  const signature = Buffer.from(encodedSignature, 'base64url');
  // One spelling per signature: base64url decoding ignores a lone last character and the unused
  // bits of the last one, which would give a token several spellings (and cache entries).
  if (signature.toString('base64url') !== encodedSignature) throw failure(check, 'the signature is not valid base64url');
  // Several candidates only happen for a token without "kid" and a JWKS with several keys of that type.
  const signer = candidates.find((key) => verifySignature(alg, key, input, signature));
  if (!signer) throw failure(check, 'the signature is not valid');
  let claims: Record<string, unknown>;
  try {
    claims = decodeJsonObject(token.slice(payloadStart, signatureStart - 1));
  } catch {
    // No cause: a JSON parse error may quote the claims.
    throw failure(check, 'the token payload is not a JSON object');
  }
  let rules = claimRulesOf(check);
  if (check.tenants) {
    const issuers = tenantIssuers(claims, check.tenants, check.errorCode);
    const keyIssuer = typeof signer === 'object' && !(signer instanceof Uint8Array) ? keys.issuerOf?.(signer) : undefined;
    if (!keyIssuerFits(keyIssuer, check.tenants, issuers)) throw failure(check, 'the signing key belongs to another issuer');
    rules = { ...rules, issuer: issuers };
  }
  const problem = claimsProblem(claims, rules) ?? (check.accessToken ? notAnAccessToken(claims, { headerTyp: jws.header.typ, ...check.accessToken }) : undefined);
  if (problem) throw failure(check, problem);
  return claims as JWTPayload;
}

/**
 * Verifies a compact JWS JWT: the signature with a key of the provider's JWKS, `alg` from the
 * allowed list only (never `none`, never chosen by the key), no `crit` extensions, then `iss`,
 * `aud`, `exp` (required), `nbf` and `iat` when present, within `clockTolerance`. Returns the
 * payload or throws an {@link OpenIDError} with `check.errorCode`.
 *
 * The signature is checked with node:crypto (jws-signature.ts), synchronously, and the claims by
 * claims.ts, with the rules of jose's `jwtVerify`.
 */
export async function verifyJwt(token: unknown, keys: KeySource, check: JwtCheck): Promise<JWTPayload> {
  const jws = parseJws(token, check);
  return verifyWith(jws, keysAtHand(jws, keys, check) ?? (await keys.candidates(jws.header)), check, keys);
}

/**
 * {@link verifyJwt} without waiting: the payload, or `undefined` when the token's key is not known
 * yet (then `verifyJwt` fetches it). Throws like `verifyJwt` rejects.
 */
export function verifyJwtNow(token: string, keys: KeySource, check: JwtCheck): JWTPayload | undefined {
  const jws = parseJws(token, check);
  const candidates = keysAtHand(jws, keys, check);
  return candidates && verifyWith(jws, candidates, check, keys);
}
