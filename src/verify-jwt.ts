import { decodeProtectedHeader, errors, jwtVerify, type JWSHeaderParameters, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { OpenIDError, type OpenIDErrorCode } from './errors.js';
import type { RemoteKeySet } from './jwks.js';

export interface JwtCheck {
  issuer: string;
  audience: string | string[];
  /** Allowed JWS algorithms; `none` never passes, whatever is listed. */
  algorithms: readonly string[];
  /** Seconds. */
  clockTolerance: number;
  /** Claims that must be present besides `exp` (always required). */
  requiredClaims?: string[];
  /** The error code to fail with (`invalid_token` or `invalid_id_token`). */
  errorCode: OpenIDErrorCode;
  /** The client secret, for `HS*` algorithms when (and only when) `algorithms` lists them. */
  hmacSecret?: Uint8Array;
}

const MAX_TOKEN_LENGTH = 16 * 1024;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Three base64url parts: a JWS (possibly unsigned); anything else is an opaque token. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Overrides a caller may give for an access-token check (`verifyToken`, `bearer()`). */
export interface AccessTokenCheckOptions {
  /** Expected `aud`. Default: the `clientId`. */
  audience?: string | string[];
  /** Allowed JWS algorithms. Default: the provider's advertised asymmetric ones (never `none`); `HS*` only when listed, then checked with the `clientSecret`. */
  algorithms?: string[];
  /** Seconds. Default: the provider's `clockTolerance` option. */
  clockTolerance?: number;
}

/**
 * The check for a JWT access token of `provider`: its issuer; `audience` default the `clientId`;
 * the provider's asymmetric algorithms unless `algorithms` says otherwise (`HS*` listed there are
 * checked with the client secret); `clockTolerance` default the provider option.
 */
export function accessTokenCheck(
  provider: { issuer: string; idTokenAlgorithms: string[] },
  opts: { clientId: string; clientSecret?: string | undefined; clockTolerance: number },
  o: AccessTokenCheckOptions,
): JwtCheck {
  const algorithms = o.algorithms ?? provider.idTokenAlgorithms;
  const hmac = algorithms.some((a) => /^HS/.test(a));
  if (hmac && !opts.clientSecret) throw new TypeError('HMAC "algorithms" need the "clientSecret"');
  return {
    issuer: provider.issuer,
    audience: o.audience ?? opts.clientId,
    algorithms,
    clockTolerance: o.clockTolerance ?? opts.clockTolerance,
    errorCode: 'invalid_token',
    ...(hmac ? { hmacSecret: new TextEncoder().encode(opts.clientSecret) } : {}),
  };
}

/** jose's options for a check, built once per check object. */
const joseOptions = new WeakMap<JwtCheck, JWTVerifyOptions>();

/** Turns a jose failure into a message that names the failed check and nothing of the token. */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the "${err.claim}" claim check failed (${err.reason})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature is not valid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the signing algorithm is not allowed';
  if (err instanceof errors.JOSENotSupported) return 'the token uses an unsupported algorithm or key';
  return 'the token is malformed';
}

/**
 * Verifies a compact JWS JWT: the signature with a key of the provider's JWKS, `alg` from the
 * allowed list only (never `none`, never chosen by the key), `iss`, `aud`, `exp` (required), `nbf`
 * and `iat` when present, within `clockTolerance`. Returns the payload or throws an
 * {@link OpenIDError} with `check.errorCode`.
 */
export async function verifyJwt(token: unknown, keys: RemoteKeySet, check: JwtCheck): Promise<JWTPayload> {
  const fail = (message: string, cause?: unknown) => new OpenIDError(check.errorCode, message, { cause });
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token)) {
    throw fail('the token is not a signed JWT');
  }
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch (err) {
    throw fail('the token header is malformed', err);
  }
  const algorithms = check.algorithms;
  if (typeof header.alg !== 'string' || header.alg === 'none' || !algorithms.includes(header.alg)) {
    throw fail('the signing algorithm is not allowed');
  }
  // An HMAC token is only ever checked with the client secret: a public key is never an HMAC key.
  const candidates = /^HS/.test(header.alg) ? (check.hmacSecret ? [check.hmacSecret] : []) : await keys.candidates(header);
  if (candidates.length === 0) throw fail('no key of the provider matches the token ("kid" unknown)');

  let found = joseOptions.get(check);
  if (!found) {
    found = { issuer: check.issuer, audience: check.audience, algorithms: [...algorithms], clockTolerance: check.clockTolerance, requiredClaims: ['exp', ...(check.requiredClaims ?? [])] };
    joseOptions.set(check, found);
  }
  const options = found;
  let lastError: unknown;
  // Several candidates only happen for a token without "kid" and a JWKS with several keys of that type.
  for (const key of candidates) {
    try {
      const { payload } = await jwtVerify(token, key, options);
      return payload;
    } catch (err) {
      if (!(err instanceof errors.JWSSignatureVerificationFailed)) throw fail(describe(err), err);
      lastError = err;
    }
  }
  throw fail(describe(lastError), lastError);
}
